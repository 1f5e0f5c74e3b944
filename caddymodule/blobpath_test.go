package caddymodule

import (
	"net/url"
	"strings"
	"testing"
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
		if got != tt.want || err != tt.err {
			t.Errorf("blobName(%q, %.40q) = %.40q, %v; want %.40q, %v", tt.prefix, tt.path, got, err, tt.want, tt.err)
		}
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
		if got != tt.want || ok != tt.ok {
			t.Errorf("stripPathPrefix(%q, %q) = %q, %v; want %q, %v", tt.path, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBlobURLPathEscapesEachSegment(t *testing.T) {
	path, raw := blobURLPath("/devstoreaccount1", "photos", "2024/a b+c#d?e;f=g&h%20i.jpg")
	if want := "/devstoreaccount1/photos/2024/a%20b+c%23d%3Fe%3Bf=g&h%2520i.jpg"; raw != want {
		t.Errorf("raw path %q, want %q", raw, want)
	}
	u := &url.URL{Path: path, RawPath: raw}
	if u.EscapedPath() != raw {
		t.Errorf("net/url would send %q, not our escaping %q", u.EscapedPath(), raw)
	}
	back, err := url.PathUnescape(raw)
	if err != nil || back != path {
		t.Errorf("escaped path decodes to %q (%v), want %q", back, err, path)
	}
	c, b, ok := splitBlobPath("/devstoreaccount1", path)
	if !ok || c != "photos" || b != "2024/a b+c#d?e;f=g&h%20i.jpg" {
		t.Errorf("splitBlobPath = %q %q %v", c, b, ok)
	}
}

// FuzzBlobMapping checks the mapper's promise: every accepted path (with
// or without a strip_prefix) maps under the container and prefix, and the
// upstream path decodes back to the same blob name.
func FuzzBlobMapping(f *testing.F) {
	for _, seed := range []string{"/cat.jpg", "/a/../b", "/%2e%2e/x", "/a b#c?d", "/é/😀", "//x", "/a\\b", "/s/a//b", "/s/../x", "/S/%2e%2e"} {
		f.Add("public/", seed)
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		if checkBlobName(prefix+"x") != nil || strings.Contains(prefix, "/../") {
			return // a prefix is configuration, checked at provision
		}
		if rest, ok := stripPathPrefix(path, "/s"); ok {
			path = rest // strip_prefix /s, as a route would have it
		}
		name, err := blobName(prefix, path)
		if err != nil {
			return
		}
		if !strings.HasPrefix(name, prefix) {
			t.Fatalf("%q maps to %q, outside prefix %q", path, name, prefix)
		}
		decoded, raw := blobURLPath("/acct", "photos", name)
		u, perr := url.Parse("http://h" + raw)
		if perr != nil {
			t.Fatalf("upstream path %q does not parse: %v", raw, perr)
		}
		if u.Path != decoded || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("upstream %q reads back as path %q query %q fragment %q", raw, u.Path, u.RawQuery, u.Fragment)
		}
		c, b, ok := splitBlobPath("/acct", u.Path)
		if !ok || c != "photos" || b != name {
			t.Fatalf("upstream %q reads back as %q/%q, want photos/%q", raw, c, b, name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("accepted dot segment in %q", name)
			}
		}
	})
}
