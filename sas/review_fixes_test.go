package sas

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// Regression tests for defects found in review.

func TestParseRefusesRawCharactersThatBreakAURL(t *testing.T) {
	base := "sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped
	for _, bad := range []string{"rscd=a#b&", "rscd=a b&", "rscd=é&", "rscd=a\"b&", "rscd=a\nb&"} {
		_, err := Parse(bad + base)
		if err == nil || !strings.Contains(err.Error(), "must be percent-encoded") {
			t.Errorf("Parse(%q…) = %v, want a refusal", bad, err)
		}
	}
	if _, err := Parse("rscd=a%23b%20c&" + base); err != nil {
		t.Errorf("the same values, escaped: %v", err)
	}
	u, _ := url.Parse("https://a.blob.core.windows.net/c/b?sv=1&rscd=a#b&sig=" + testSigEscaped)
	if got := RedactURL(u); strings.Contains(got, "koLni") {
		t.Errorf("RedactURL left a sig in the fragment: %s", got)
	}
}

func TestBackslashSignsAsSlash(t *testing.T) {
	key := devKey(t)
	sign := func(name string) string {
		v := ServiceValues{Version: VersionLatest, Permissions: PermRead, Container: "photos", Blob: name, Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		q, err := v.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		return q.Encode()
	}
	if sign(`a\b.txt`) != sign("a/b.txt") {
		t.Error(`a\b.txt and a/b.txt sign differently; Azure reads both as a/b.txt`)
	}
}

func TestVersionSASNeeds20191212(t *testing.T) {
	key := devKey(t)
	for version, ok := range map[string]bool{"2019-10-10": false, "2019-12-12": true} {
		v := ServiceValues{Version: version, Permissions: PermRead, Container: "photos", Blob: "b", VersionID: "2024-01-01T00:00:00.0000000Z", Expiry: time.Now().Add(time.Hour)}
		if _, err := v.Sign(key); (err == nil) != ok {
			t.Errorf("sr=bv at %s: %v", version, err)
		}
	}
}

func TestAccountNameErrorNeverQuotesALongValue(t *testing.T) {
	_, err := NewSharedKey(exampleKey, exampleKey)
	if err == nil || strings.Contains(err.Error(), exampleKey[:10]) {
		t.Errorf("error %v", err)
	}
	_, err = ParseConnectionString("AccountName=" + exampleKey + ";AccountKey=" + exampleKey)
	if err == nil || strings.Contains(err.Error(), exampleKey[:10]) {
		t.Errorf("connection string error %v", err)
	}
}

func TestEndpointAccountAndIPv6Proxy(t *testing.T) {
	if got := AccountFromEndpoint("https://myacct.blob.core.windows.net/sub"); got != "myacct" {
		t.Errorf("account %q, want myacct", got)
	}
	c, err := ParseConnectionString("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]")
	if err != nil || c.BlobEndpoint != "http://[::1]:10000/devstoreaccount1" {
		t.Errorf("endpoint %q, %v", c.BlobEndpoint, err)
	}
}

func TestParseDirectoryDepthAndFractions(t *testing.T) {
	sig := "&sig=" + testSigEscaped
	for token, want := range map[string]string{
		"sv=2025-11-05&sr=d&sp=r&se=2030-01-01" + sig:                         "without its depth (sdd)",
		"sv=2025-11-05&sr=b&sdd=1&sp=r&se=2030-01-01" + sig:                   "not a directory SAS",
		"sv=2025-11-05&sr=d&sdd=x&sp=r&se=2030-01-01" + sig:                   "not a small whole number",
		"sv=2025-11-05&sr=b&sp=r&se=2030-01-01T00:00:00.12345678Z" + sig:      "is not a time Azure accepts",
		"sv=2025-11-05&sr=d&sdd=2&sp=r&se=2030-01-01T00:00:00.1234567Z" + sig: "",
	} {
		_, err := Parse(token)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Parse(%.50q…) = %v, want %q", token, err, want)
		}
	}
}

func TestVerifyWithNilKey(t *testing.T) {
	tok, err := Parse("sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSigEscaped)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.VerifyService(nil, "c", "b", ""); err == nil {
		t.Error("verified with no key")
	}
}
