package caddymodule

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/blobnames"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func TestBlobName(t *testing.T) {
	tests := []struct {
		prefix, path, want string
		err                error
	}{
		{"", "/cat.jpg", "cat.jpg", nil},
		{"public/", "/2024/a b+c#d?e;f=g&h%20i.jpg", "public/2024/a b+c#d?e;f=g&h%20i.jpg", nil},
		{"", "/é/😀/名前.png", "é/😀/名前.png", nil},
		{"", "/a..b/c./.d", "a..b/c./.d", nil},
		{"", "/a//b", "a//b", nil},
		{"", "/%2e%2e/x", "%2e%2e/x", nil}, // decoded once: a literal name, not a dot segment
		{"", "/" + strings.Repeat("é", 1024), strings.Repeat("é", 1024), nil},
		{"", "cat.jpg", "", errNotAPath},
		{"", "/", "", errNoBlobName},
		{"", "/photos/", "", errNoBlobName},
		{"", "/../secret", "", errDotSegment},
		{"", "/a/./b", "", errDotSegment},
		{"", "/a/..", "", errDotSegment},
		{"../", "/x", "", errDotSegment},
		{"", "/a\x00b", "", errControlChar},
		{"", "/a\r\nb", "", errControlChar},
		{"", "/a\x7fb", "", errControlChar},
		{"", `/a\..\b`, "", errBackslash},
		{"", "/a\xc0\xafb", "", errInvalidUTF8}, // overlong '/'
		{"", "/" + strings.Repeat("é", 1025), "", errBlobNameLength},
		{"", "/a\u0085b", "", errControlChar}, // C1: Azure refuses it even escaped
		{"", "/" + strings.Repeat("a/", 253) + "z", strings.Repeat("a/", 253) + "z", nil},
		{"", "/" + strings.Repeat("a/", 254) + "z", "", errTooManyLevels},
	}
	for _, tt := range tests {
		got, err := blobName(tt.prefix, tt.path)
		assert.Equal(t, tt.want, got, "blobName(%q, %.40q)", tt.prefix, tt.path)
		// The sentinel itself (the handler tells them apart with errors.Is),
		// not an error of the same text nor one wrapping it.
		assert.True(t, err == tt.err, "blobName(%q, %.40q) = %v, want %v", tt.prefix, tt.path, err, tt.err)
	}
}

func TestStripPathPrefix(t *testing.T) {
	for _, tt := range []struct {
		path, prefix, want string
		ok                 bool
	}{
		{"/images/a//b", "/images", "/a//b", true},
		{"/images/a", "/images/", "/a", true},
		{"/IMAGES/a", "/images", "/a", true},
		{"/images", "/images", "/", true},
		{"/imagesX/a", "/images", "", false},
		{"/other/a", "/images", "", false},
		{"/a", "", "/a", true},
		{"/a", "//", "/a", true},
		{"/É/x", "/é", "", false}, // only ASCII letters fold
		{"/é/x", "/é", "/x", true},
	} {
		got, ok := stripPathPrefix(tt.path, tt.prefix)
		assert.Equal(t, tt.want, got, "stripPathPrefix(%q, %q)", tt.path, tt.prefix)
		assert.Equal(t, tt.ok, ok, "stripPathPrefix(%q, %q) ok", tt.path, tt.prefix)
	}
}

func TestBlobPathEscapesEachSegment(t *testing.T) {
	path, raw := sas.BlobEndpoint{Path: "/devstoreaccount1"}.BlobPath("photos", "2024/a b+c#d?e;f=g&h%20i.jpg")
	assert.Equal(t, "/devstoreaccount1/photos/2024/a b+c#d?e;f=g&h%20i.jpg", path, "decoded path")
	assert.Equal(t, "/devstoreaccount1/photos/2024/a%20b+c%23d%3Fe%3Bf=g&h%2520i.jpg", raw, "raw path")
	u := &url.URL{Path: path, RawPath: raw}
	assert.Equal(t, raw, u.EscapedPath(), "net/url would send another escaping than ours")
	back, err := url.PathUnescape(raw)
	if assert.NoError(t, err, "unescaping the raw path") {
		assert.Equal(t, path, back, "the escaped path decodes to another path")
	}
	c, b, ok := splitBlobPath("/devstoreaccount1", path)
	assert.True(t, ok, "splitBlobPath refused %q", path)
	assert.Equal(t, "photos", c, "splitBlobPath container")
	assert.Equal(t, "2024/a b+c#d?e;f=g&h%20i.jpg", b, "splitBlobPath blob")
}

// FuzzBlobMapping checks the mapper's promise: every accepted path (with
// or without a strip_prefix) maps under the container and prefix, and the
// upstream path decodes back to the same blob name; every refused one
// breaks a rule the docs give (mappingRefusal). The seeds are the odd names
// a media library meets, and the paths Azure cannot hold.
func FuzzBlobMapping(f *testing.F) {
	for _, seed := range []string{"/cat.jpg", "/a/../b", "/%2e%2e/x", "/a b#c?d", "/é/😀", "//x", "/a\\b", "/s/a//b", "/s/../x", "/S/%2e%2e"} {
		f.Add("public/", seed)
	}
	for _, name := range blobnames.Odd {
		f.Add("", "/"+name)
		f.Add("users/alice/", "/s/"+name)
	}
	for _, path := range blobnames.Unholdable {
		decoded, err := url.PathUnescape(path)
		require.NoError(f, err, "%q", path)
		f.Add("", decoded)
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		if checkURLSafeBlobName(prefix+"x") != nil || strings.Contains(prefix, "/../") {
			return // a prefix is configuration, checked at provision
		}
		if rest, ok := stripPathPrefix(path, "/s"); ok {
			path = rest // strip_prefix /s, as a route would have it
		}
		name, err := blobName(prefix, path)
		reason := mappingRefusal(prefix, path)
		if err != nil {
			require.NotEmpty(t, reason, "%q refused with no documented reason: %v", path, err)
			return
		}
		require.Empty(t, reason, "%q mapped to %q although it is %s", path, name, reason)
		require.True(t, strings.HasPrefix(name, prefix), "%q maps to %q, outside prefix %q", path, name, prefix)
		decoded, raw := sas.BlobEndpoint{Path: "/acct"}.BlobPath("photos", name)
		u, perr := url.Parse("http://h" + raw)
		require.NoError(t, perr, "upstream path %q does not parse", raw)
		require.Equal(t, decoded, u.Path, "upstream %q reads back as another path", raw)
		require.Empty(t, u.RawQuery, "upstream %q reads back with a query", raw)
		require.Empty(t, u.Fragment, "upstream %q reads back with a fragment", raw)
		c, b, ok := splitBlobPath("/acct", u.Path)
		require.True(t, ok, "upstream %q does not split into container and blob", raw)
		require.Equal(t, "photos", c, "upstream %q reads back in another container", raw)
		require.Equal(t, name, b, "upstream %q reads back as another blob", raw)
		for seg := range strings.SplitSeq(name, "/") {
			require.NotContains(t, []string{".", ".."}, seg, "accepted dot segment in %q", name)
		}
	})
}

// mappingRefusal says which rule of the docs refuses the path under the
// prefix, or "" when none does: a name that is empty or a folder (404), not
// UTF-8, with a control character or a backslash, a dot segment, over
// 1,024 characters or over 254 segments (400). It is written apart from
// the mapper.
func mappingRefusal(prefix, path string) string {
	if !strings.HasPrefix(path, "/") {
		return "not a path"
	}
	name := prefix + path[1:]
	switch {
	case name == "" || strings.HasSuffix(name, "/"):
		return "a folder"
	case !utf8.ValidString(name):
		return "not UTF-8"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f }):
		return "a control character"
	case strings.Contains(name, "\\"):
		return "a backslash"
	case slices.ContainsFunc(strings.Split(name, "/"), func(seg string) bool { return seg == "." || seg == ".." }):
		return "a dot segment"
	case utf8.RuneCountInString(name) > 1024:
		return "over 1,024 characters"
	case strings.Count(name, "/") >= 254:
		return "over 254 segments"
	}
	return ""
}
