package sas

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Kind tells which sort of SAS a token is.
type Kind string

// Token kinds.
const (
	KindService        Kind = "service"         // signed with an account key, for a container or blob
	KindUserDelegation Kind = "user-delegation" // signed with a user delegation key from Entra ID
	KindAccount        Kind = "account"         // signed with an account key, for services of the account
)

// withArticle is "a service SAS", "an account SAS" …, for messages.
func (k Kind) withArticle() string {
	if k == KindAccount {
		return "an account SAS"
	}
	return "a " + string(k) + " SAS"
}

// maxTokenLength bounds what Parse reads. Real tokens are a few hundred bytes;
// response header overrides can add a few more.
const maxTokenLength = 16 << 10

var errBadTime = errors.New("not a time Azure accepts")

// ParsedToken is an existing SAS token, parsed: what it grants, on what, and until
// when. The signature is kept secret: the parsed token prints redacted.
type ParsedToken struct {
	Kind Kind

	Version         string             // sv; VersionLegacy when absent
	Resource        Resource           // sr (service and user-delegation SAS)
	Services        Services           // ss (account SAS)
	ResourceTypes   ResourceTypes      // srt (account SAS)
	Permissions     Permissions        // sp of a service or user-delegation SAS
	AccountPerms    AccountPermissions // sp of an account SAS
	Start           time.Time          // st; zero when absent
	Expiry          time.Time          // se; zero when a stored policy defines it
	Identifier      string             // si: stored access policy
	IPRange         string             // sip
	Protocol        Protocol           // spr
	DirectoryDepth  string             // sdd
	EncryptionScope string             // ses

	CacheControl       string // rscc
	ContentDisposition string // rscd
	ContentEncoding    string // rsce
	ContentLanguage    string // rscl
	ContentType        string // rsct

	// Delegation carries the user-delegation fields (skoid …), by parameter
	// name; empty for other kinds.
	Delegation map[string]string

	permissions string // sp as written
	start, end  string // st and se as written: signed byte for byte
	ss, srt     string // as written
	signature   secret
	raw         secret
}

// tokenParams are the query parameters a SAS is made of. Anything else in a
// token would change the request it is appended to (comp, restype …), so
// Parse refuses it.
var tokenParams = map[string]bool{
	"sv": true, "ss": true, "srt": true, "sp": true, "st": true, "se": true, "sip": true, "spr": true,
	"sr": true, "sig": true, "si": true, "sdd": true, "ses": true,
	"rscc": true, "rscd": true, "rsce": true, "rscl": true, "rsct": true,
	"skoid": true, "sktid": true, "skt": true, "ske": true, "sks": true, "skv": true,
	"saoid": true, "suoid": true, "scid": true, "skdutid": true, "sduoid": true, "srh": true, "srq": true,
}

var delegationParams = [...]string{"skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "skdutid", "sduoid", "srh", "srq"}

// Parse reads a SAS token as users paste it: the query string, with or
// without a leading '?'. Errors say what is wrong and never quote sig.
func Parse(token string) (*ParsedToken, error) {
	token = strings.TrimPrefix(strings.TrimSpace(token), "?")
	if token == "" {
		return nil, errors.New("SAS token is empty")
	}
	if len(token) > maxTokenLength {
		return nil, fmt.Errorf("SAS token is %d bytes; a real one is under %d", len(token), maxTokenLength)
	}
	if i := strings.IndexFunc(token, notQueryChar); i >= 0 {
		// A raw '#' would cut the token off at the fragment, a space would
		// break the request line: a token must arrive percent-encoded.
		return nil, fmt.Errorf("SAS token has a character that must be percent-encoded at byte %d", i)
	}
	params := make(map[string]string, 12)
	var unknown, rawSig string
	var unknownIsParam bool
	for part := range strings.SplitSeq(token, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, ok := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil || name == "" {
			return nil, errors.New("SAS token has a parameter whose name is empty or not percent-encoded properly")
		}
		if !tokenParams[name] {
			if unknown == "" {
				// A part without '=' is no parameter: it may be a secret
				// pasted alone, and is never quoted.
				unknown, unknownIsParam = name, ok
			}
			continue
		}
		if name == "sig" {
			rawSig = rawValue
		}
		if !ok || rawValue == "" {
			return nil, fmt.Errorf("SAS token parameter %s has no value", name)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("SAS token parameter %s is not percent-encoded properly", name)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("SAS token parameter %s appears twice", name)
		}
		params[name] = value
	}
	if unknown != "" {
		return nil, unknownParamError(unknown, unknownIsParam, params["sig"], rawSig)
	}
	t := &ParsedToken{raw: newSecret(token)}
	if err := t.fill(params); err != nil {
		return nil, err
	}
	return t, nil
}

// notQueryChar reports runes that cannot stand unescaped in a URL query
// (RFC 3986: unreserved, sub-delims, ':', '@', '/', '?' and '%' escapes).
func notQueryChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~!$&'()*+,;=:@/?%", r)
}

// unknownParamError names a parameter that has no place in a SAS (comp,
// restype …) when it looks like a parameter name and came with a value;
// anything else, such as a fragment of a mangled signature or a secret
// pasted without its name, is not quoted.
func unknownParamError(name string, isParam bool, sig, rawSig string) error {
	const hint = "which is not part of a SAS (is this a whole URL rather than its token?)"
	quotable := isParam && plainName(name)
	for _, secret := range [...]string{sig, rawSig} {
		quotable = quotable && !strings.Contains(secret, name) && (secret == "" || !strings.Contains(name, secret))
	}
	if quotable {
		return fmt.Errorf("SAS token has parameter %q, %s", name, hint)
	}
	return errors.New("SAS token has a parameter " + hint)
}

// fill checks the parameters and sets the fields.
func (t *ParsedToken) fill(p map[string]string) error {
	sig, ok := p["sig"]
	if !ok {
		return errors.New("SAS token has no signature (sig)")
	}
	if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || len(raw) != 32 {
		return errors.New("SAS token signature (sig) is not a base64 HMAC-SHA256 (is a '+' in it not written as %2B?)")
	}
	t.signature = newSecret(sig)

	t.Version = VersionLegacy
	if sv, ok := p["sv"]; ok {
		if sv == VersionLegacy {
			return fmt.Errorf("SAS token version (sv) %s is written as no sv at all", VersionLegacy)
		}
		t.Version = sv
	}
	info, err := lookupVersion(t.Version)
	if err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}

	_, hasSS := p["ss"]
	_, hasSRT := p["srt"]
	_, hasOID := p["skoid"]
	switch {
	case hasSS || hasSRT:
		t.Kind = KindAccount
	case hasOID:
		t.Kind = KindUserDelegation
	default:
		t.Kind = KindService
	}

	t.Identifier = p["si"]
	t.IPRange = p["sip"]
	t.Protocol = Protocol(p["spr"])
	t.DirectoryDepth = p["sdd"]
	t.EncryptionScope = p["ses"]
	t.CacheControl, t.ContentDisposition, t.ContentEncoding = p["rscc"], p["rscd"], p["rsce"]
	t.ContentLanguage, t.ContentType = p["rscl"], p["rsct"]
	t.permissions, t.start, t.end = p["sp"], p["st"], p["se"]
	t.ss, t.srt = p["ss"], p["srt"]

	if err := t.Protocol.check(); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	if t.IPRange != "" {
		if err := checkIPRange(t.IPRange); err != nil {
			return fmt.Errorf("SAS token: %w", err)
		}
	}
	if t.start != "" {
		if t.Start, err = parseTime(t.start); err != nil {
			return fmt.Errorf("SAS token start (st) is %w", err)
		}
	}
	if t.end != "" {
		if t.Expiry, err = parseTime(t.end); err != nil {
			return fmt.Errorf("SAS token expiry (se) is %w", err)
		}
	}
	if t.start != "" && t.end != "" && !t.Expiry.After(t.Start) {
		return errors.New("SAS token expiry (se) is not after its start (st)")
	}

	if t.Kind == KindAccount {
		return t.fillAccount(p, info)
	}
	return t.fillService(p)
}

func (t *ParsedToken) fillAccount(p map[string]string, info versionInfo) error {
	if !info.accountSAS {
		return fmt.Errorf("SAS token is an account SAS, which needs version 2015-04-05 or later, not %s", t.Version)
	}
	var err error
	if t.Services, err = ParseServices(p["ss"]); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	if t.ResourceTypes, err = ParseResourceTypes(p["srt"]); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	if t.AccountPerms, err = ParseAccountPermissions(t.permissions); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	if t.end == "" {
		return errors.New("SAS token is an account SAS without an expiry (se)")
	}
	for _, name := range [...]string{"sr", "si", "sdd", "rscc", "rscd", "rsce", "rscl", "rsct"} {
		if _, ok := p[name]; ok {
			return fmt.Errorf("SAS token is an account SAS (it has ss and srt) but also %s, which only a service SAS has", name)
		}
	}
	return nil
}

func (t *ParsedToken) fillService(p map[string]string) error {
	sr, ok := p["sr"]
	if !ok {
		return errors.New("SAS token has no signed resource (sr)")
	}
	var err error
	if t.Resource, err = ParseResource(sr); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	if t.permissions != "" {
		if t.Permissions, err = ParsePermissions(t.Resource, t.permissions); err != nil {
			return fmt.Errorf("SAS token: %w", err)
		}
	}
	switch sdd := t.DirectoryDepth; {
	case t.Resource == ResourceDirectory && sdd == "":
		return errors.New("SAS token is a directory SAS (sr=d) without its depth (sdd)")
	case t.Resource != ResourceDirectory && sdd != "":
		return errors.New("SAS token has a directory depth (sdd) but is not a directory SAS (sr=d)")
	case sdd != "" && (len(sdd) > 3 || strings.Trim(sdd, "0123456789") != ""):
		return errors.New("SAS token directory depth (sdd) is not a small whole number")
	}
	if t.Kind == KindUserDelegation {
		t.Delegation = make(map[string]string, 8)
		for _, name := range delegationParams {
			if v, ok := p[name]; ok {
				t.Delegation[name] = v
			}
		}
		if t.Identifier != "" {
			return errors.New("SAS token is a user-delegation SAS, which cannot name a stored access policy (si)")
		}
	}
	if t.Identifier == "" {
		if t.permissions == "" {
			return errors.New("SAS token has no permissions (sp) and no stored access policy (si) to supply them")
		}
		if t.end == "" {
			return errors.New("SAS token has no expiry (se) and no stored access policy (si) to supply it")
		}
	}
	return nil
}

// Token returns the token as it was given, without a leading '?', ready to
// append to a blob URL.
func (t *ParsedToken) Token() Token { return Token{token: t.raw, expiry: t.Expiry} }

// PermissionString returns sp as written in the token.
func (t *ParsedToken) PermissionString() string { return t.permissions }

// ReadOnly reports whether the token grants nothing beyond read and list.
// A token whose permissions come from a stored policy cannot be judged here
// and reports false.
func (t *ParsedToken) ReadOnly() bool {
	if t.Kind == KindAccount {
		return t.AccountPerms.ReadOnly() && t.AccountPerms != 0
	}
	return t.permissions != "" && t.Permissions.ReadOnly()
}

// Remaining returns how long the token is valid after now; negative once
// expired, zero when a stored policy holds the expiry.
func (t *ParsedToken) Remaining(now time.Time) time.Duration {
	if t.Expiry.IsZero() {
		return 0
	}
	return t.Expiry.Sub(now)
}

// Redacted returns the token with sig replaced by REDACTED, for display.
func (t *ParsedToken) Redacted() string { return RedactQuery(t.raw.Reveal()) }

// String implements fmt.Stringer with the signature redacted.
func (t *ParsedToken) String() string { return t.Redacted() }

// GoString implements fmt.GoStringer.
func (t *ParsedToken) GoString() string { return "sas.ParsedToken(" + t.Redacted() + ")" }

// Format implements fmt.Formatter: every verb prints the redacted token.
func (t *ParsedToken) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.Redacted())) }

// MarshalJSON implements json.Marshaler with the redacted token.
func (t *ParsedToken) MarshalJSON() ([]byte, error) { return []byte(quoteJSON(t.Redacted())), nil }

// VerifyService checks the signature of a service SAS against key for the
// resource a request addresses: container, blob ("" for a container-level
// request) and, for sr=bs or sr=bv, the request's snapshot or version id.
// It does not check times or permissions; see Remaining and Permissions.
func (t *ParsedToken) VerifyService(key *SharedKey, container, blob, snapshotOrVersion string) error {
	v := t.freeText()
	if t.Resource == ResourceVersion {
		v.VersionID = snapshotOrVersion
	} else {
		v.Snapshot = snapshotOrVersion
	}
	return t.verify(key, "VerifyService", &template{kind: KindService, resource: t.Resource, v: v},
		&tokenFields{container: container, blob: blob})
}

// VerifyAccount checks the signature of an account SAS against key.
func (t *ParsedToken) VerifyAccount(key *SharedKey) error {
	return t.verify(key, "VerifyAccount", &template{kind: KindAccount, ss: t.ss, srt: t.srt, v: t.freeText()}, &tokenFields{})
}

// verify checks that the token is of tmpl's kind, fills in what it says of
// itself as written (version, sp, st, se) and the key's account, and
// checks its signature.
func (t *ParsedToken) verify(key *SharedKey, method string, tmpl *template, f *tokenFields) error {
	if t.Kind != tmpl.kind {
		return fmt.Errorf("%s needs %s, not %s", method, tmpl.kind.withArticle(), t.Kind.withArticle())
	}
	if key == nil {
		return errors.New("no shared key to verify with")
	}
	var err error
	if tmpl.info, err = lookupVersion(t.Version); err != nil {
		return err
	}
	if err := tmpl.setSP(t.permissions); err != nil {
		return err
	}
	f.account, f.st, f.se = key.account, []byte(t.start), []byte(t.end)
	return key.verify(tmpl, f, t.signature.Reveal())
}

// freeText returns the token's free-text fields, as signed.
func (t *ParsedToken) freeText() *ServiceValues {
	return &ServiceValues{
		Identifier: t.Identifier, IPRange: t.IPRange, Protocol: t.Protocol, EncryptionScope: t.EncryptionScope,
		CacheControl: t.CacheControl, ContentDisposition: t.ContentDisposition, ContentEncoding: t.ContentEncoding,
		ContentLanguage: t.ContentLanguage, ContentType: t.ContentType,
	}
}
