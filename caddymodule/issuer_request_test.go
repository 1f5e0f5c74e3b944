package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// provisionIssuer provisions azure_sas as Caddy would: container uploads
// of Azurite's account at endpoint, signed with its key, prefix
// users/{http.auth.user.id}/, permissions r and c. Nothing here reaches
// the endpoint: issuing only signs.
func provisionIssuer(t *testing.T, endpoint string) *Issuer {
	t.Helper()
	is := &Issuer{Origin: Origin{Endpoint: endpoint, Container: "uploads", AccountKey: sas.DevAccountKey}, Prefix: "users/{http.auth.user.id}/", Permissions: "rc"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	require.NoError(t, is.Provision(ctx), "Provision")
	is.logger = zap.NewNop()
	return is
}

// issuerAnswer is what a client reads in azure_sas's JSON answer.
type issuerAnswer struct {
	URL         string `json:"url"`
	Blob        string `json:"blob"`
	Permissions string `json:"permissions"`
	Error       string `json:"error"`
	Field       string `json:"field"`
}

// askIssuer sends method target (with body as JSON for POST) to is, as
// alice, with header as name, value pairs, and returns the status and
// the answer.
func askIssuer(t *testing.T, is *Issuer, method, target, body string, header ...string) (int, issuerAnswer) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", "alice")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	require.NoError(t, is.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("azure_sas called the next handler")
		return nil
	})))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"), "%s %s %s", method, target, body)
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"), "%s %s %s", method, target, body)
	var answer issuerAnswer
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &answer), "%s %s %s: %s", method, target, body, w.Body)
	return w.Code, answer
}

// TestIssuerBodyIsReadStrictly: a key given twice, or an escaped half of
// a surrogate pair (which encoding/json turns into U+FFFD), is refused
// with 400 and says why, as the other malformed bodies are; a pair, or
// U+FFFD as the client wrote it, names the blob it spells.
func TestIssuerBodyIsReadStrictly(t *testing.T) {
	is := provisionIssuer(t, "http://127.0.0.1:10000/devstoreaccount1")
	for _, tc := range []struct {
		body   string
		status int
		error  string // in the refusal
		blob   string // issued
	}{
		// A key given twice: the last used to win, here a create URL.
		{`{"permissions": "r", "blob": "a.txt", "permissions": "c"}`, 400, "permissions is given twice", ""},
		{`{"blob": "a.txt", "blob": "b.txt"}`, 400, "blob is given twice", ""},
		{`{"blob": "a.txt", "ttl": "1m", "ttl": "1m"}`, 400, "ttl is given twice", ""},
		{`{"blob": "a.txt", "blo\u0062": "b.txt"}`, 400, "blob is given twice", ""},
		// Half of a surrogate pair: it used to become U+FFFD in the name.
		{`{"blob": "\ud800.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "a\ud800"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "\udc00.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "\ud800\u0041.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "\ud800\ud800.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "\ude00\ud83d.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "\ud800\n.txt"}`, 400, "blob holds half of a surrogate pair", ""},
		{`{"blob": "a.txt", "ttl": "1\uDBFFm"}`, 400, "ttl holds half of a surrogate pair", ""},
		// What was refused before still is.
		{`{"blob": "a.txt"}{"blob": "b.txt"}`, 400, "something follows the object", ""},
		{`{"BLOB": "a.txt"}`, 400, "an unknown key", ""},
		{`{"blob": null}`, 400, "blob is null", ""},
		{`{"blob": 7}`, 400, "not a JSON object of strings", ""},
		{`{"blob": ["a.txt"]}`, 400, "not a JSON object of strings", ""},
		{`["a.txt"]`, 400, "not a JSON object of strings", ""},
		{`{"blob": "a.txt",}`, 400, "not a JSON object of strings", ""},
		{`{"blob": "a.txt"`, 400, "not a JSON object of strings", ""},
		{``, 400, "not a JSON object of strings", ""},
		{"{\"blob\": \"a\xff.txt\"}", 400, "not valid UTF-8", ""},
		// Characters, escaped or not, name the blob they spell.
		{`{"blob": "\ud83d\ude00.txt"}`, 200, "", "users/alice/😀.txt"},
		{`{"blob": "\uD83D\uDE00.txt", "permissions": "c"}`, 200, "", "users/alice/😀.txt"},
		{`{"blob": "😀.txt"}`, 200, "", "users/alice/😀.txt"},
		{`{"blob": "\ufffd.txt"}`, 200, "", "users/alice/\ufffd.txt"},
		{"{\"blob\": \"\ufffd.txt\"}", 200, "", "users/alice/\ufffd.txt"},
		{`{"blob": "a\"\u00e9\/b.txt"}`, 200, "", `users/alice/a"é/b.txt`},
		{` { "blob" : "a.txt" , "permissions" : "rc" } `, 200, "", "users/alice/a.txt"},
		{`{}`, 400, "blob must name a blob", ""},
	} {
		status, answer := askIssuer(t, is, http.MethodPost, "/sas", tc.body)
		assert.Equal(t, tc.status, status, "body %s: %s", tc.body, answer.Error)
		if tc.status != http.StatusOK {
			assert.Contains(t, answer.Error, tc.error, "body %s", tc.body)
			assert.Empty(t, answer.URL, "body %s: a refusal carries a URL", tc.body)
			continue
		}
		assert.Equal(t, tc.blob, answer.Blob, "body %s", tc.body)
		u, err := url.Parse(answer.URL)
		if assert.NoError(t, err, "body %s", tc.body) {
			assert.Equal(t, "/devstoreaccount1/uploads/"+tc.blob, u.Path, "body %s: the URL's blob", tc.body)
		}
	}
}

// TestIssuerRefusesOtherSites: a browser's request that a page of another
// site or of a sibling subdomain made is refused with 403, by GET and by
// POST, saying whom azure_sas answers; a request from the site's own
// pages, one the user typed, and one from a client that is not a browser
// are answered.
func TestIssuerRefusesOtherSites(t *testing.T) {
	is := provisionIssuer(t, "http://127.0.0.1:10000/devstoreaccount1")
	for _, tc := range []struct {
		site   string // Sec-Fetch-Site; "" sends none
		status int
	}{
		{"cross-site", http.StatusForbidden},
		{"same-site", http.StatusForbidden},
		{"Cross-Site", http.StatusForbidden},
		{"same-origin", http.StatusOK},
		{"none", http.StatusOK},
		{"", http.StatusOK},
	} {
		for _, ask := range []struct{ method, target, body string }{
			{http.MethodGet, "/sas?blob=a.txt", ""},
			{http.MethodPost, "/sas", `{"blob": "a.txt", "permissions": "c"}`},
		} {
			status, answer := askIssuer(t, is, ask.method, ask.target, ask.body, "Sec-Fetch-Site", tc.site)
			assert.Equal(t, tc.status, status, "%s with Sec-Fetch-Site %q: %s", ask.method, tc.site, answer.Error)
			if tc.status == http.StatusForbidden {
				assert.Contains(t, answer.Error, "azure_sas answers pages of its own origin and clients that are not browsers", "%s with Sec-Fetch-Site %q", ask.method, tc.site)
				assert.Empty(t, answer.Field, "%s with Sec-Fetch-Site %q", ask.method, tc.site)
				assert.Empty(t, answer.URL, "%s with Sec-Fetch-Site %q: a refusal carries a URL", ask.method, tc.site)
			} else {
				assert.Equal(t, "users/alice/a.txt", answer.Blob, "%s with Sec-Fetch-Site %q", ask.method, tc.site)
			}
		}
	}
	// Another site's page is refused before anything else is looked at.
	status, answer := askIssuer(t, is, http.MethodDelete, "/sas", "", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, status, "DELETE from another site: %s", answer.Error)
}

// TestSignedProtocolFollowsTheEndpoint: the URLs azure_sas issues and the
// tokens the transport signs carry spr=https for an https endpoint, and no
// spr for an http one (Azurite on loopback) or for a version that cannot
// sign it.
func TestSignedProtocolFollowsTheEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint, version string
		want              sas.Protocol
	}{
		{"https://mystorage.blob.core.windows.net", "", sas.ProtocolHTTPS},
		{"https://127.0.0.1:10000/devstoreaccount1", "", sas.ProtocolHTTPS},
		{"http://127.0.0.1:10000/devstoreaccount1", "", sas.ProtocolAny},
		{"https://mystorage.blob.core.windows.net", "2015-04-05", sas.ProtocolHTTPS},
		{"https://mystorage.blob.core.windows.net", "2015-02-21", sas.ProtocolAny},
	} {
		what := tc.endpoint + " " + tc.version
		if tc.version == "" {
			is := provisionIssuer(t, tc.endpoint)
			status, answer := askIssuer(t, is, http.MethodGet, "/sas?blob=a.txt", "")
			require.Equal(t, http.StatusOK, status, "%s: %s", what, answer.Error)
			u, err := url.Parse(answer.URL)
			require.NoError(t, err, what)
			assert.Equal(t, strings.Split(tc.endpoint, ":")[0], u.Scheme, "%s: the issued URL", what)
			assert.Equal(t, []string{string(tc.want)}, nonEmpty(u.Query()["spr"]), "%s: spr of the issued URL", what)
		}
		tr := &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: tc.endpoint, Container: "uploads", AccountKey: sas.DevAccountKey, Version: tc.version}}}
		provisionTransport(t, tr)
		tok, err := tr.reader.reads.token("uploads", "a.txt")
		require.NoError(t, err, "%s: the transport signs", what)
		parsed, err := sas.Parse(tok.Encode())
		require.NoError(t, err, what)
		assert.Equal(t, tc.want, parsed.Protocol, "%s: spr of the transport's token", what)
	}
}

// nonEmpty is values, or [""] when there are none: an absent spr reads as
// sas.ProtocolAny.
func nonEmpty(values []string) []string {
	if len(values) == 0 {
		return []string{""}
	}
	return values
}

// FuzzDecodeIssueRequest checks the strict reading's promise on any body:
// it never panics, and a body it accepts is valid UTF-8 and means what
// encoding/json reads in it (so no key was given twice), with no U+FFFD
// that the body does not spell (literally or as \ufffd).
func FuzzDecodeIssueRequest(f *testing.F) {
	// The seeds (duplicate keys, lone and paired surrogates, U+FFFD spelt
	// and escaped, null, numbers, trailing text) are in
	// testdata/fuzz/FuzzDecodeIssueRequest.
	f.Fuzz(func(t *testing.T, body []byte) {
		var req issueRequest
		if decodeIssueRequest(body, &req) != nil {
			return
		}
		require.True(t, utf8.Valid(body), "accepted invalid UTF-8 %q", body)
		var std issueRequest
		require.NoError(t, json.Unmarshal(body, &std), "accepted %q, which encoding/json refuses", body)
		require.Equal(t, std, req, "read %q otherwise than encoding/json", body)
		spelled := strings.Count(string(body), "\ufffd") + strings.Count(strings.ToLower(string(body)), `\ufffd`)
		got := strings.Count(req.Blob+req.Permissions+req.TTL, "\ufffd")
		require.LessOrEqual(t, got, spelled, "read %q with a U+FFFD it does not spell", body)
	})
}
