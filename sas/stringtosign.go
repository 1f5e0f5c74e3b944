package sas

import (
	"crypto/hmac"
	"errors"
	"strings"
	"time"
)

// template is what is fixed in the tokens of one set of values: their
// kind, version, resource and free text, checked once (ServiceValues.check,
// AccountValues.check, or a parsed token's fields). A Signer keeps one for
// all its tokens; tokenFields add what varies. The string-to-sign and the
// query of every kind of token, signed or verified, are made from these
// two by appendStringToSign and appendQuery.
type template struct {
	kind        Kind // KindService or KindAccount: a service template signed with a DelegationKey makes a user-delegation SAS
	info        versionInfo
	permissions Permissions
	sp          [16]byte // sp as written, sp[:spLen]: worked out once
	spLen       uint8

	// Service and user-delegation SAS.
	resource Resource
	sdd      string

	// Account SAS.
	ss, srt string

	// The free-text fields: si, sip, spr, the snapshot or version id, ses,
	// the response header overrides, and a user-delegation SAS's saoid,
	// suoid, scid and sduoid. An account SAS sets sip, spr and ses only.
	// Not copied: signing reads it and keeps nothing.
	v *ServiceValues
}

// tokenFields are what varies between the tokens of a template.
type tokenFields struct {
	account         string
	container, blob string // service and user-delegation SAS
	st, se          []byte // as written; empty when absent
	key             *DelegationKey
}

// setSP records the permissions as written.
func (t *template) setSP(sp string) error {
	if len(sp) > len(t.sp) {
		return errors.New("permissions (sp) are longer than any Azure defines")
	}
	t.spLen = uint8(copy(t.sp[:], sp))
	return nil
}

// appendStringToSign appends the string-to-sign of f (Create a service SAS,
// Create a user delegation SAS, Create an account SAS: Microsoft Learn).
func appendStringToSign(dst []byte, t *template, f *tokenFields) []byte {
	v, info := t.v, &t.info
	sp := t.sp[:t.spLen]
	if t.kind == KindAccount {
		// Unlike the others it ends with '\n'; Azure answers 403 without it.
		for _, s := range [...]string{f.account, string(sp), t.ss, t.srt, string(f.st), string(f.se), v.IPRange, string(v.Protocol), info.version} {
			dst = append(dst, s...)
			dst = append(dst, '\n')
		}
		if info.layout >= layout2020 {
			dst = append(dst, v.EncryptionScope...)
			dst = append(dst, '\n')
		}
		return dst
	}
	dst = append(dst, sp...)
	dst = append(dst, '\n')
	dst = append(dst, f.st...)
	dst = append(dst, '\n')
	dst = append(dst, f.se...)
	dst = append(dst, '\n')
	dst = appendCanonicalResource(dst, info.blobPrefix, f.account, f.container, t.resource, f.blob)
	if d := f.key; d != nil {
		k := &d.info
		dst = appendLine(dst, k.SignedOID)
		dst = appendLine(dst, k.SignedTID)
		dst = append(append(dst, '\n'), d.start...)
		dst = append(append(dst, '\n'), d.end...)
		dst = appendLine(dst, k.SignedService)
		dst = appendLine(dst, k.SignedVersion)
		if info.delegationAgents {
			dst = appendLine(dst, v.AuthorizedObjectID)
			dst = appendLine(dst, v.UnauthorizedObjectID)
			dst = appendLine(dst, v.CorrelationID)
		}
		if info.delegatedTenant {
			dst = appendLine(dst, k.SignedDelegatedUserTenantID)
			dst = appendLine(dst, v.DelegatedUserObjectID)
		}
	} else {
		dst = appendLine(dst, v.Identifier)
	}
	if info.layout >= layout2015 {
		dst = appendLine(dst, v.IPRange)
		dst = appendLine(dst, string(v.Protocol))
	}
	if info.signsVersion() {
		dst = appendLine(dst, info.version)
	}
	if info.layout >= layout2018 {
		dst = appendLine(dst, string(t.resource))
		dst = appendLine(dst, v.Snapshot)
		dst = append(dst, v.VersionID...) // the same slot; at most one is set
	}
	if info.layout >= layout2020 {
		dst = appendLine(dst, v.EncryptionScope)
	}
	if f.key != nil && info.signedRequestFields {
		dst = append(dst, "\n\n"...) // srh and srq: signed request headers and query, not offered
	}
	if info.layout >= layout2013 {
		dst = appendLine(dst, v.CacheControl)
		dst = appendLine(dst, v.ContentDisposition)
		dst = appendLine(dst, v.ContentEncoding)
		dst = appendLine(dst, v.ContentLanguage)
		dst = appendLine(dst, v.ContentType)
	}
	return dst
}

// appendLine appends '\n' and s: a field of a string-to-sign after its
// first.
func appendLine(dst []byte, s string) []byte {
	dst = append(dst, '\n')
	return append(dst, s...)
}

// appendCanonicalResource appends /blob/account/container[/name] (without
// /blob before 2015-02-21). The name is the decoded blob name.
func appendCanonicalResource(dst []byte, blobPrefix bool, account, container string, r Resource, name string) []byte {
	if blobPrefix {
		dst = append(dst, "/blob"...)
	}
	dst = append(dst, '/')
	dst = append(dst, account...)
	dst = append(dst, '/')
	dst = append(dst, container...)
	if r != ResourceContainer && name != "" {
		dst = append(dst, '/')
		start := len(dst)
		dst = append(dst, name...)
		// Azure reads '\' in a blob name as '/', and signs it so; the SDKs
		// for Go, .NET and Java do the same.
		if strings.IndexByte(name, '\\') >= 0 { // the usual name has none: skip the loop
			for i := start; i < len(dst); i++ {
				if dst[i] == '\\' {
					dst[i] = '/'
				}
			}
		}
	}
	return dst
}

// appendQuery appends the token's parameters but sig, in the order the
// Azure SDKs write them; empty ones are left out.
func appendQuery(q []byte, t *template, f *tokenFields) []byte {
	v := t.v
	if t.info.signsVersion() {
		q = appendRawParam(q, "sv", t.info.version)
	}
	if t.kind == KindAccount {
		q = appendRawParam(q, "ss", t.ss)
		q = appendRawParam(q, "srt", t.srt)
	}
	q = appendRawParam(q, "sp", t.sp[:t.spLen])
	q = appendTimeParam(q, "st", f.st)
	q = appendTimeParam(q, "se", f.se)
	if d := f.key; d != nil {
		k := &d.info
		q = appendParam(q, "skoid", k.SignedOID)
		q = appendParam(q, "sktid", k.SignedTID)
		q = appendTimeParam(q, "skt", d.start)
		q = appendTimeParam(q, "ske", d.end)
		q = appendParam(q, "sks", k.SignedService)
		q = appendParam(q, "skv", k.SignedVersion)
		q = appendParam(q, "saoid", v.AuthorizedObjectID)
		q = appendParam(q, "suoid", v.UnauthorizedObjectID)
		q = appendParam(q, "scid", v.CorrelationID)
		q = appendParam(q, "skdutid", k.SignedDelegatedUserTenantID)
		q = appendParam(q, "sduoid", v.DelegatedUserObjectID)
	}
	q = appendParam(q, "si", v.Identifier)
	q = appendParam(q, "sip", v.IPRange)
	q = appendParam(q, "spr", string(v.Protocol))
	q = appendRawParam(q, "sr", string(t.resource))
	q = appendRawParam(q, "sdd", t.sdd)
	q = appendParam(q, "ses", v.EncryptionScope)
	q = appendParam(q, "rscc", v.CacheControl)
	q = appendParam(q, "rscd", v.ContentDisposition)
	q = appendParam(q, "rsce", v.ContentEncoding)
	q = appendParam(q, "rscl", v.ContentLanguage)
	return appendParam(q, "rsct", v.ContentType)
}

// sign is the one signing finish: it builds the string-to-sign and the
// query in the key's pooled buffers, appends the signature, and returns
// the token, the only allocation.
func (k *SharedKey) sign(t *template, f *tokenFields, expiry time.Time) Token {
	b := k.getState()
	defer k.putState(b)
	b.sts = appendStringToSign(b.sts[:0], t, f)
	b.macSTS()
	q := appendQuery(b.query[:0], t, f)
	q = appendSigParam(q, &b.sum)
	b.query = q
	return newToken(string(q), expiry)
}

// verify checks sig, as written in a token, against the signature of t and f.
func (k *SharedKey) verify(t *template, f *tokenFields, sig string) error {
	b := k.getState()
	defer k.putState(b)
	b.sts = appendStringToSign(b.sts[:0], t, f)
	b.signSTS()
	if !hmac.Equal(b.sig, []byte(sig)) {
		return errors.New("SAS signature does not match: wrong key, account or resource, or the token was altered")
	}
	return nil
}
