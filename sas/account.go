package sas

import (
	"errors"
	"time"
)

// AccountValues describes an account SAS (Create an account SAS, Microsoft
// Learn): access to service-, container- or object-level operations of one
// or more services of the account.
type AccountValues struct {
	// Version is sv: 2015-04-05 or later. Empty means DefaultVersion.
	Version string

	// Services is ss; required.
	Services Services

	// ResourceTypes is srt; required.
	ResourceTypes ResourceTypes

	// Permissions is sp; required.
	Permissions AccountPermissions

	// Start is st; zero omits it.
	Start time.Time

	// Expiry is se; required.
	Expiry time.Time

	// IPRange is sip: one IPv4 address or "start-end".
	IPRange string

	// Protocol is spr.
	Protocol Protocol

	// EncryptionScope is ses (2020-12-06 and later).
	EncryptionScope string
}

// Sign signs v with key and returns the token.
func (v *AccountValues) Sign(key *SharedKey) (Query, error) {
	if key == nil {
		return Query{}, errors.New("no shared key to sign with")
	}
	info, err := v.check()
	if err != nil {
		return Query{}, err
	}
	b := key.getState()
	defer key.putState(b)

	var sp, st, se [32]byte
	spb := v.Permissions.appendTo(sp[:0])
	var stb, seb []byte
	if !v.Start.IsZero() {
		stb = appendTime(st[:0], v.Start)
	}
	seb = appendTime(se[:0], v.Expiry)
	ss, srt := v.Services.String(), v.ResourceTypes.String()

	b.sts = appendAccountStringToSign(b.sts[:0], info, key.account, spb, ss, srt,
		stb, seb, v.IPRange, v.Protocol, v.EncryptionScope)
	b.macSTS()

	q := b.query[:0]
	q = appendRawParam(q, "sv", info.version)
	q = appendRawParam(q, "ss", ss)
	q = appendRawParam(q, "srt", srt)
	q = appendRawParam(q, "sp", spb)
	q = appendTimeParam(q, "st", stb)
	q = appendTimeParam(q, "se", seb)
	q = appendParam(q, "sip", v.IPRange)
	q = appendParam(q, "spr", string(v.Protocol))
	q = appendParam(q, "ses", v.EncryptionScope)
	q = appendSigParam(q, &b.sum)
	b.query = q
	return newQuery(string(q), v.Expiry), nil
}

func (v *AccountValues) check() (versionInfo, error) {
	version := v.Version
	if version == "" {
		version = DefaultVersion
	}
	info, err := lookupVersion(version)
	if err != nil {
		return versionInfo{}, err
	}
	switch {
	case !info.accountSAS:
		return versionInfo{}, errors.New("an account SAS needs signed version 2015-04-05 or later")
	case v.Services == 0 || v.Services&^Services(letterBits(servicesLetters)) != 0:
		return versionInfo{}, errors.New("account SAS services (ss) are required: some of b, f, q, t")
	case v.ResourceTypes == 0 || v.ResourceTypes&^ResourceTypes(letterBits(resourceTypeLetters)) != 0:
		return versionInfo{}, errors.New("account SAS resource types (srt) are required: some of s, c, o")
	case v.Permissions == 0 || v.Permissions&^AccountPermissions(letterBits(accountLetters)) != 0:
		return versionInfo{}, errors.New("account SAS permissions (sp) are required: some of " + accountLetters)
	case v.Expiry.IsZero():
		return versionInfo{}, errors.New("account SAS expiry (se) is required")
	case v.EncryptionScope != "" && info.layout < layout2020:
		return versionInfo{}, errors.New("encryption scope (ses) needs signed version 2020-12-06 or later")
	}
	if err := checkTimes(v.Start, v.Expiry); err != nil {
		return versionInfo{}, err
	}
	if err := v.Protocol.check(); err != nil {
		return versionInfo{}, err
	}
	if v.IPRange != "" {
		if err := checkIPRange(v.IPRange); err != nil {
			return versionInfo{}, err
		}
	}
	return info, nil
}

// appendAccountStringToSign appends the account SAS string-to-sign. Unlike
// a service SAS it ends with '\n'; Azure answers 403 without it.
func appendAccountStringToSign(dst []byte, info versionInfo, account string, sp []byte, ss, srt string,
	st, se []byte, sip string, spr Protocol, ses string) []byte {
	dst = append(dst, account...)
	dst = append(dst, '\n')
	dst = append(dst, sp...)
	dst = append(dst, '\n')
	dst = append(dst, ss...)
	dst = append(dst, '\n')
	dst = append(dst, srt...)
	dst = append(dst, '\n')
	dst = append(dst, st...)
	dst = append(dst, '\n')
	dst = append(dst, se...)
	dst = append(dst, '\n')
	dst = append(dst, sip...)
	dst = append(dst, '\n')
	dst = append(dst, spr...)
	dst = append(dst, '\n')
	dst = append(dst, info.version...)
	dst = append(dst, '\n')
	if info.layout >= layout2020 {
		dst = append(dst, ses...)
		dst = append(dst, '\n')
	}
	return dst
}
