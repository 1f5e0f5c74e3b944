package sas

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Protocol is the spr field: which schemes a token may be used over.
type Protocol string

// Protocols Azure accepts.
const (
	ProtocolAny       Protocol = ""           // not restricted: spr is omitted
	ProtocolHTTPS     Protocol = "https"      // HTTPS only
	ProtocolHTTPSHTTP Protocol = "https,http" // both, written out
)

func (p Protocol) check() error {
	switch p {
	case ProtocolAny, ProtocolHTTPS, ProtocolHTTPSHTTP:
		return nil
	}
	return errors.New("signed protocol (spr) is not https or https,http")
}

// ServiceValues describes a service SAS for a container or blob, signed with
// an account key (Create a service SAS, Microsoft Learn). Zero fields are
// left out of the token.
type ServiceValues struct {
	// Version is sv, the signed service version; it picks the string-to-sign
	// layout. Empty means DefaultVersion; VersionLegacy signs the layout that
	// predates sv and omits sv from the token.
	Version string

	// Resource is sr. Empty derives it: Blob set gives b (bs with Snapshot,
	// bv with VersionID), Blob empty gives c.
	Resource Resource

	// Permissions is sp. It may be empty only when Identifier names a stored
	// access policy that defines it.
	Permissions Permissions

	// Start is st; zero omits it, so the token is valid at once, which avoids
	// clock-skew failures (Microsoft's advice).
	Start time.Time

	// Expiry is se. It may be zero only when the stored policy defines it.
	Expiry time.Time

	// Identifier is si, the id of a stored access policy on the container.
	// Leave Permissions, Start and Expiry empty for what the policy defines.
	Identifier string

	// IPRange is sip: one address or "start-end" (2015-04-05 and later).
	IPRange string

	// Protocol is spr (2015-04-05 and later).
	Protocol Protocol

	// Container is the container name; required.
	Container string

	// Blob is the blob name, decoded (as it is stored, not URL-escaped);
	// empty for a container SAS. For sr=d it is the directory path.
	Blob string

	// Snapshot is the snapshot time (sr=bs, 2018-11-09 and later), exactly as
	// the request's ?snapshot= value, e.g. 2024-01-02T03:04:05.1234567Z.
	Snapshot string

	// VersionID is the blob version (sr=bv, 2019-10-10 and later), exactly as
	// the request's ?versionid= value.
	VersionID string

	// EncryptionScope is ses (2020-12-06 and later).
	EncryptionScope string

	// Response header overrides (2013-08-15 and later): Azure answers with
	// these values instead of the blob's own properties.
	CacheControl       string // rscc: Cache-Control
	ContentDisposition string // rscd: Content-Disposition
	ContentEncoding    string // rsce: Content-Encoding
	ContentLanguage    string // rscl: Content-Language
	ContentType        string // rsct: Content-Type

	// User-delegation SAS only (SignWithUserDelegation): the Entra ID
	// object that may use the token, with (saoid) or without (suoid) its
	// own permission check, a correlation ID for the logs (scid), all
	// 2020-02-10 and later; and the delegated user (sduoid, 2025-07-05).
	AuthorizedObjectID    string // saoid
	UnauthorizedObjectID  string // suoid
	CorrelationID         string // scid
	DelegatedUserObjectID string // sduoid
}

// The years a SAS time can be written in.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// maxBlobNameChars is Azure's limit on a blob name, in characters.
const maxBlobNameChars = 1024

// check validates v and returns what signing needs. Errors name the field.
// The template points at v, so it is valid while v is unchanged.
func (v *ServiceValues) check() (template, error) {
	info, err := signedVersion(v.Version)
	if err != nil {
		return template{}, err
	}
	t := template{kind: KindService, info: info, resource: v.Resource, permissions: v.Permissions, v: v}
	if t.resource == "" {
		t.resource = v.deriveResource()
	}
	allowed, allowedBits, err := t.resource.permissions()
	if err != nil {
		return template{}, err
	}
	if err := CheckContainerName(v.Container); err != nil {
		return template{}, err
	}
	switch {
	case t.resource == ResourceContainer && v.Blob != "":
		return template{}, errors.New("a container SAS (sr=c) names no blob")
	case t.resource != ResourceContainer:
		if err := CheckBlobName(v.Blob); err != nil {
			return template{}, err
		}
	}
	if t.resource == ResourceSnapshot && v.Snapshot == "" {
		return template{}, errors.New("a snapshot SAS (sr=bs) needs the snapshot time")
	}
	if t.resource == ResourceVersion && v.VersionID == "" {
		return template{}, errors.New("a version SAS (sr=bv) needs the version id")
	}
	if v.Snapshot != "" && v.VersionID != "" {
		return template{}, errors.New("a SAS addresses a snapshot or a version, not both")
	}
	if (v.Snapshot != "" && t.resource != ResourceSnapshot) || (v.VersionID != "" && t.resource != ResourceVersion) {
		return template{}, errors.New("signed resource (sr) does not match a snapshot or version")
	}
	if t.resource == ResourceDirectory {
		t.sdd = strconv.Itoa(strings.Count(strings.Trim(v.Blob, "/"), "/") + 1)
	}
	if t.permissions&^allowedBits != 0 {
		return template{}, fmt.Errorf("permissions %q include letters a %s SAS does not take (allowed: %s)",
			t.permissions.String(), t.resource.describe(), allowed)
	}
	t.spLen = uint8(len(t.permissions.appendTo(t.sp[:0])))
	if v.Identifier == "" {
		if t.permissions == 0 {
			return template{}, errors.New("permissions (sp) are required unless a stored access policy (si) defines them")
		}
		if v.Expiry.IsZero() {
			return template{}, errors.New("expiry (se) is required unless a stored access policy (si) defines it")
		}
	}
	if err := checkTimes(v.Start, v.Expiry); err != nil {
		return template{}, err
	}
	if err := v.checkFreeText(); err != nil {
		return template{}, err
	}
	if err := v.Protocol.check(); err != nil {
		return template{}, err
	}
	if v.IPRange != "" {
		if err := checkIPRange(v.IPRange); err != nil {
			return template{}, err
		}
	}
	if err := checkVersionFeatures(v, t.resource, info); err != nil {
		return template{}, err
	}
	return t, nil
}

func (v *ServiceValues) deriveResource() Resource {
	switch {
	case v.Blob == "":
		return ResourceContainer
	case v.Snapshot != "":
		return ResourceSnapshot
	case v.VersionID != "":
		return ResourceVersion
	}
	return ResourceBlob
}

// checkVersionFeatures refuses fields the chosen version cannot sign: Azure
// would ignore them in the signature (a 403) or in the authorization (a wider
// token than asked for).
//
// It takes the parts it reads rather than the template: an error quoting the
// version would otherwise make escape analysis move the caller's values to
// the heap on every signing.
func checkVersionFeatures(v *ServiceValues, resource Resource, info versionInfo) error {
	need := func(field, since string) error {
		return fmt.Errorf("%s needs signed version %s or later, not %s", field, since, info.version)
	}
	switch {
	case (v.CacheControl != "" || v.ContentDisposition != "" || v.ContentEncoding != "" ||
		v.ContentLanguage != "" || v.ContentType != "") && info.layout < layout2013:
		return need("response header overrides (rscc, rscd, rsce, rscl, rsct)", "2013-08-15")
	case v.IPRange != "" && info.layout < layout2015:
		return need("IP range (sip)", "2015-04-05")
	case v.Protocol != ProtocolAny && info.layout < layout2015:
		return need("protocol (spr)", "2015-04-05")
	case resource == ResourceSnapshot && info.layout < layout2018:
		return need("a snapshot SAS (sr=bs)", "2018-11-09")
	case resource == ResourceVersion && info.version < "2019-12-12":
		return need("a version SAS (sr=bv)", "2019-12-12")
	case resource == ResourceDirectory && info.version < "2020-02-10":
		return need("a directory SAS (sr=d)", "2020-02-10")
	case v.EncryptionScope != "" && info.layout < layout2020:
		return need("encryption scope (ses)", "2020-12-06")
	}
	return nil
}

func letterBits(letters string) (bits uint32) {
	for i := 0; i < len(letters); i++ {
		bits |= 1 << (letters[i] - 'a')
	}
	return bits
}

// CheckContainerName applies Azure's naming rules: 3 to 63 lowercase letters,
// digits and single hyphens, starting and ending with a letter or digit; or
// one of the special containers $root, $web, $logs.
func CheckContainerName(name string) error {
	switch name {
	case "":
		return errors.New("container name is empty")
	case "$root", "$web", "$logs":
		return nil
	}
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("container name must be 3 to 63 characters long, not %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return errors.New("container name may hold only lowercase letters, digits and single hyphens inside")
		}
	}
	return nil
}

// CheckBlobName refuses what Azure cannot store: an empty name, more than
// 1024 characters, bytes that are not UTF-8, or control characters (which
// Azure refuses, and which would make the string-to-sign ambiguous).
func CheckBlobName(name string) error {
	if name == "" {
		return errors.New("blob name is empty")
	}
	if !utf8.ValidString(name) {
		return errors.New("blob name is not valid UTF-8")
	}
	if hasControl(name) {
		return errors.New("blob name has a control character")
	}
	// A name of at most 1024 bytes has at most 1024 characters: skip counting.
	if len(name) <= maxBlobNameChars {
		return nil
	}
	if n := utf8.RuneCountInString(name); n > maxBlobNameChars {
		return fmt.Errorf("blob name has %d characters; Azure allows at most %d", n, maxBlobNameChars)
	}
	return nil
}

// checkFreeText refuses control characters in the fields signed as text
// the caller chose. The string-to-sign joins its fields with '\n': a value
// holding one would shift the fields after it, so that other values could
// give the same string-to-sign and the same signature. Errors name the
// field and never quote the value.
func (v *ServiceValues) checkFreeText() error {
	if len(v.Identifier)+len(v.IPRange)+len(v.Snapshot)+len(v.VersionID)+len(v.EncryptionScope)+
		len(v.CacheControl)+len(v.ContentDisposition)+len(v.ContentEncoding)+len(v.ContentLanguage)+len(v.ContentType)+
		len(v.AuthorizedObjectID)+len(v.UnauthorizedObjectID)+len(v.CorrelationID)+len(v.DelegatedUserObjectID) == 0 {
		return nil // the usual read token: nothing to look through, on a path that runs for every signing
	}
	for _, f := range [...]struct{ name, value string }{
		{"stored access policy (si)", v.Identifier}, {"IP range (sip)", v.IPRange},
		{"snapshot", v.Snapshot}, {"version id", v.VersionID}, {"encryption scope (ses)", v.EncryptionScope},
		{"cache control (rscc)", v.CacheControl}, {"content disposition (rscd)", v.ContentDisposition},
		{"content encoding (rsce)", v.ContentEncoding}, {"content language (rscl)", v.ContentLanguage},
		{"content type (rsct)", v.ContentType}, {"authorized object id (saoid)", v.AuthorizedObjectID},
		{"unauthorized object id (suoid)", v.UnauthorizedObjectID}, {"correlation id (scid)", v.CorrelationID},
		{"delegated user object id (sduoid)", v.DelegatedUserObjectID},
	} {
		if hasControl(f.value) {
			return fmt.Errorf("%s has a control character", f.name)
		}
	}
	return nil
}

// hasControl reports whether s holds a C0 control character, DEL, or a C1
// control character (U+0080 to U+009F, which UTF-8 writes as 0xC2 0x80 to
// 0xC2 0x9F).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f:
			return true
		}
	}
	return false
}

// checkTimes refuses years Azure cannot write and an expiry not after the
// start.
func checkTimes(start, expiry time.Time) error {
	if !start.IsZero() && (start.Before(minTime) || !start.Before(maxTime)) {
		return errors.New("start (st) is outside the years 0001 to 9999")
	}
	if !expiry.IsZero() && (expiry.Before(minTime) || !expiry.Before(maxTime)) {
		return errors.New("expiry (se) is outside the years 0001 to 9999")
	}
	if !start.IsZero() && !expiry.IsZero() && !expiry.After(start) {
		return errors.New("expiry (se) must be after start (st)")
	}
	return nil
}

// Sign signs v with key and returns the token.
func (v *ServiceValues) Sign(key *SharedKey) (Token, error) {
	if key == nil {
		return Token{}, errors.New("no shared key to sign with")
	}
	if v.AuthorizedObjectID != "" || v.UnauthorizedObjectID != "" || v.CorrelationID != "" || v.DelegatedUserObjectID != "" {
		return Token{}, errors.New("saoid, suoid, scid and sduoid belong to a user-delegation SAS: sign with SignWithUserDelegation")
	}
	t, err := v.check()
	if err != nil {
		return Token{}, err
	}
	return t.sign(key, nil, v.Container, v.Blob, v.Start, v.Expiry), nil
}

// sign signs a token of the template for a blob (or the container) from
// start to expiry: with key, or as a user-delegation SAS with d.
func (t *template) sign(key *SharedKey, d *DelegationKey, container, blob string, start, expiry time.Time) Token {
	var st, se [len(timeFormat)]byte
	f := tokenFields{container: container, blob: blob}
	if !start.IsZero() {
		f.st = appendTime(st[:0], start)
	}
	if !expiry.IsZero() {
		f.se = appendTime(se[:0], expiry)
	}
	if d != nil {
		f.key, key = d, d.key
	}
	f.account = key.account
	return key.sign(t, &f, expiry)
}

var errBadIPRange = errors.New("IP range (sip) is not an IPv4 address or range like 168.1.5.60-168.1.5.70")

// checkIPRange accepts sip as Azure documents it: one IPv4 address, or two
// joined by '-' with the first not above the second.
func checkIPRange(s string) error {
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || !a.Is4() {
		return errBadIPRange
	}
	if !isRange {
		return nil
	}
	b, err := netip.ParseAddr(last)
	if err != nil || !b.Is4() {
		return errBadIPRange
	}
	if b.Less(a) {
		return errors.New("IP range (sip) ends before it starts")
	}
	return nil
}
