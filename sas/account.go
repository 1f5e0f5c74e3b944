package sas

import (
	"errors"
	"fmt"
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
func (v *AccountValues) Sign(key *SharedKey) (Token, error) {
	if key == nil {
		return Token{}, errors.New("no shared key to sign with")
	}
	info, err := v.check()
	if err != nil {
		return Token{}, err
	}
	t := template{
		kind: KindAccount, info: info, ss: v.Services.String(), srt: v.ResourceTypes.String(),
		v: &ServiceValues{IPRange: v.IPRange, Protocol: v.Protocol, EncryptionScope: v.EncryptionScope},
	}
	t.spLen = uint8(len(v.Permissions.appendTo(t.sp[:0])))
	var st, se [len(timeFormat)]byte
	f := tokenFields{account: key.account, se: appendTime(se[:0], v.Expiry)}
	if !v.Start.IsZero() {
		f.st = appendTime(st[:0], v.Start)
	}
	return key.sign(&t, &f, v.Expiry), nil
}

func (v *AccountValues) check() (versionInfo, error) {
	info, err := signedVersion(v.Version)
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
	if err := v.checkFreeText(); err != nil {
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

// checkFreeText refuses control characters in the account SAS fields signed
// as text, as ServiceValues.checkFreeText does for a service SAS: a '\n' in
// one would shift the fields after it in the string-to-sign. The other
// fields are a known version, letter sets, an enumerated protocol and times
// this package writes itself. The IP range is parsed afterwards too, which
// would refuse a control character anyway; it is checked here so that the
// error is the same as for a service SAS. Errors name the field and never
// quote the value.
func (v *AccountValues) checkFreeText() error {
	for _, f := range [...]struct{ name, value string }{
		{"IP range (sip)", v.IPRange}, {"encryption scope (ses)", v.EncryptionScope},
	} {
		if hasControl(f.value) {
			return fmt.Errorf("%s has a control character", f.name)
		}
	}
	return nil
}
