package sas

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vector is one known answer from sas/testdata/vectors/*.json: the inputs of
// a token as its source signed them, and the signature the source published.
type vector struct {
	Name, Source, Kind, Account, Key, Version string
	Resource, Container, Blob, Snapshot       string
	VersionID                                 string `json:"version_id"`
	Permissions, Start, Expiry, Identifier    string
	IPRange                                   string `json:"ip_range"`
	Protocol                                  string
	EncryptionScope                           string `json:"encryption_scope"`
	CacheControl                              string `json:"cache_control"`
	ContentDisposition                        string `json:"content_disposition"`
	ContentEncoding                           string `json:"content_encoding"`
	ContentLanguage                           string `json:"content_language"`
	ContentType                               string `json:"content_type"`
	Services                                  string
	ResourceTypes                             string `json:"resource_types"`
	StringToSign                              string `json:"string_to_sign"`
	Signature                                 string
	Query                                     string // the source's whole token, when it gave one
	file                                      string
	version                                   string // Version, or VersionLegacy for ""
	resource                                  Resource
	permissions                               Permissions
	accountPermissions                        AccountPermissions
	start, expiry                             time.Time
	signableTimes, signablePermissions        bool
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob("testdata/vectors/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no vector files in testdata/vectors")
	var all []vector
	names := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			About   string
			Vectors []vector
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&doc), f)
		assert.NotEmpty(t, doc.About, "%s: says nothing about where its vectors come from", f)
		for _, v := range doc.Vectors {
			v.file = filepath.Base(f)
			assert.NotContains(t, names, v.Name, "vector %q is in two files (%s and %s)", v.Name, names[v.Name], v.file)
			names[v.Name] = v.file
			for field, value := range map[string]string{"source": v.Source, "signature": v.Signature, "key": v.Key, "account": v.Account} {
				assert.NotEmpty(t, value, "%s: vector %q lacks a %s", v.file, v.Name, field)
			}
			all = append(all, prepareVector(t, v))
		}
	}
	return all
}

// prepareVector parses the textual fields, noting which can be re-signed by
// the typed API: SignX writes timeFormat and canonical permission order, so
// a source that wrote a date only, or "wr", is checked by verification alone.
func prepareVector(t testing.TB, v vector) vector {
	t.Helper()
	v.version = v.Version
	if v.version == "" {
		v.version = VersionLegacy
	}
	var err error
	v.signableTimes = true
	for _, tm := range []struct {
		text string
		into *time.Time
	}{{v.Start, &v.start}, {v.Expiry, &v.expiry}} {
		if tm.text == "" {
			continue
		}
		*tm.into, err = parseTime(tm.text)
		require.NoError(t, err, "%s: %q: time %q", v.file, v.Name, tm.text)
		if tm.into.Format(timeFormat) != tm.text || tm.into.IsZero() {
			v.signableTimes = false
		}
	}
	switch v.Kind {
	case "service":
		v.resource, err = ParseResource(v.Resource)
		require.NoError(t, err, "%s: %q", v.file, v.Name)
		if v.Permissions != "" {
			v.permissions, err = ParsePermissions(v.resource, v.Permissions)
			require.NoError(t, err, "%s: %q", v.file, v.Name)
		}
		v.signablePermissions = v.permissions.String() == v.Permissions || v.Permissions == ""
	case "account":
		v.accountPermissions, err = ParseAccountPermissions(v.Permissions)
		require.NoError(t, err, "%s: %q", v.file, v.Name)
		ss, err := ParseServices(v.Services)
		require.NoError(t, err, "%s: %q", v.file, v.Name)
		srt, err := ParseResourceTypes(v.ResourceTypes)
		require.NoError(t, err, "%s: %q", v.file, v.Name)
		// Some sources sign ss=bqtf; the typed API writes canonical bfqt.
		v.signablePermissions = v.accountPermissions.String() == v.Permissions &&
			ss.String() == v.Services && srt.String() == v.ResourceTypes
	default:
		require.Fail(t, "unknown kind", "%s: %q: kind %q is not service or account", v.file, v.Name, v.Kind)
	}
	return v
}

func (v *vector) serviceValues() ServiceValues {
	return ServiceValues{
		Version: v.version, Resource: v.resource, Permissions: v.permissions,
		Start: v.start, Expiry: v.expiry, Identifier: v.Identifier, IPRange: v.IPRange,
		Protocol: Protocol(v.Protocol), Container: v.Container, Blob: v.Blob,
		Snapshot: v.Snapshot, VersionID: v.VersionID, EncryptionScope: v.EncryptionScope,
		CacheControl: v.CacheControl, ContentDisposition: v.ContentDisposition,
		ContentEncoding: v.ContentEncoding, ContentLanguage: v.ContentLanguage, ContentType: v.ContentType,
	}
}

func (v *vector) accountValues() AccountValues {
	ss, err := ParseServices(v.Services)
	if err != nil {
		panic(err)
	}
	srt, err := ParseResourceTypes(v.ResourceTypes)
	if err != nil {
		panic(err)
	}
	return AccountValues{
		Version: v.version, Services: ss, ResourceTypes: srt, Permissions: v.accountPermissions,
		Start: v.start, Expiry: v.expiry, IPRange: v.IPRange, Protocol: Protocol(v.Protocol),
		EncryptionScope: v.EncryptionScope,
	}
}

// tokenAsWritten rebuilds the token from the textual fields, byte for byte
// as the source signed them, for Parse and Verify.
func (v *vector) tokenAsWritten() string {
	q := url.Values{}
	add := func(name, value string) {
		if value != "" {
			q.Set(name, value)
		}
	}
	if v.Version != "" {
		add("sv", v.Version)
	}
	for _, p := range [][2]string{
		{"ss", v.Services}, {"srt", v.ResourceTypes}, {"sp", v.Permissions}, {"st", v.Start}, {"se", v.Expiry},
		{"si", v.Identifier}, {"sip", v.IPRange}, {"spr", v.Protocol}, {"ses", v.EncryptionScope},
		{"rscc", v.CacheControl}, {"rscd", v.ContentDisposition}, {"rsce", v.ContentEncoding},
		{"rscl", v.ContentLanguage}, {"rsct", v.ContentType}, {"sig", v.Signature},
	} {
		add(p[0], p[1])
	}
	if v.Kind == "service" {
		add("sr", v.Resource)
	}
	return q.Encode()
}

// stringToSign is what this package signs for the vector's fields as written.
func (v *vector) stringToSign(t *testing.T) string {
	t.Helper()
	info, err := lookupVersion(v.version)
	require.NoError(t, err)
	tmpl := template{kind: KindService, info: info}
	require.NoError(t, tmpl.setSP(v.Permissions))
	f := tokenFields{account: v.Account, st: []byte(v.Start), se: []byte(v.Expiry)}
	if v.Kind == "account" {
		tmpl.kind, tmpl.ss, tmpl.srt = KindAccount, v.Services, v.ResourceTypes
		tmpl.v = &ServiceValues{IPRange: v.IPRange, Protocol: Protocol(v.Protocol), EncryptionScope: v.EncryptionScope}
		return string(appendStringToSign(nil, &tmpl, &f))
	}
	values := v.serviceValues()
	tmpl.resource, tmpl.v = v.resource, &values
	f.container, f.blob = v.Container, v.Blob
	return string(appendStringToSign(nil, &tmpl, &f))
}

func TestKnownAnswers(t *testing.T) {
	vectors := loadVectors(t)
	assert.GreaterOrEqual(t, len(vectors), 30, "known answers")
	layouts := map[string]int{}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := decodeAccountKey(v.Key)
			require.NoError(t, err)
			key := newSharedKey(v.Account, raw) // some sources use names Azure would refuse, e.g. myAccountName
			if v.StringToSign != "" {
				assert.Equal(t, v.StringToSign, v.stringToSign(t), "string-to-sign differs from the source's")
			}

			// Verification reads the token exactly as the source wrote it.
			tok, err := Parse(v.tokenAsWritten())
			require.NoError(t, err, "Parse")
			var verr error
			if v.Kind == "account" {
				verr = tok.VerifyAccount(key)
			} else {
				verr = tok.VerifyService(key, v.Container, v.Blob, v.Snapshot+v.VersionID)
			}
			assert.NoError(t, verr, "Verify")
			const mismatch = "SAS signature does not match"
			switch {
			case v.Kind == "service" && v.resource == ResourceContainer:
				assert.ErrorContains(t, tok.VerifyService(key, "other"+v.Container, "", ""), mismatch,
					"the container token also verifies for another container")
			case v.Kind == "service":
				assert.ErrorContains(t, tok.VerifyService(key, v.Container, v.Blob+"x", v.Snapshot+v.VersionID), mismatch,
					"the token also verifies for another blob name")
			}

			// Signing from typed values must give the published signature.
			if !v.signableTimes || !v.signablePermissions {
				t.Logf("times or permission order as written cannot come from the typed API; verified only")
				return
			}
			var q Token
			if v.Kind == "account" {
				av := v.accountValues()
				q, err = av.Sign(key)
			} else {
				sv := v.serviceValues()
				q, err = sv.Sign(key)
			}
			require.NoError(t, err, "Sign")
			got, err := url.ParseQuery(q.Encode())
			require.NoError(t, err, "our token does not parse as a query")
			assert.Equal(t, v.Signature, got.Get("sig"), "sig")
			if v.Query != "" {
				want, err := url.ParseQuery(v.Query)
				require.NoError(t, err, "source's query")
				assert.Equal(t, want, got, "our token's parameters differ from the source's")
			}
		})
		layouts[layoutName(t, v)]++
	}
	for _, name := range []string{"2009", "2012", "2013", "2015", "2018", "2020", "account"} {
		assert.NotZero(t, layouts[name], "no known answer for layout %s", name)
	}
	t.Logf("known answers per layout: %v", layouts)
}

func layoutName(t *testing.T, v vector) string {
	t.Helper()
	if v.Kind == "account" {
		return "account"
	}
	info, err := lookupVersion(v.version)
	require.NoError(t, err, "%s: %q", v.file, v.Name)
	return [...]string{"2009", "2012", "2013", "2015", "2018", "2020"}[info.layout]
}
