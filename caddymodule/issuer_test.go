package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// issued is azure_sas's answer.
type issued struct {
	URL         string    `json:"url"`
	Container   string    `json:"container"`
	Blob        string    `json:"blob"`
	Permissions string    `json:"permissions"`
	Expiry      time.Time `json:"expiry"`
	Error       string    `json:"error"`
	Field       string    `json:"field"`
}

// askURL asks azure_sas at path, as user (none: no credentials), with a
// JSON body for POST or a query for GET, and header as name, value pairs.
// The URL's signature joins the secrets the suite looks for; the rest of
// the answer is searched.
func askURL(t *testing.T, method, path, user, body string, header ...string) (int, issued) {
	t.Helper()
	req, err := http.NewRequest(method, testSite+path, strings.NewReader(body))
	require.NoError(t, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-password")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer issued
	if resp.StatusCode != http.StatusUnauthorized {
		require.NoError(t, json.Unmarshal(raw, &answer), "%s %s: %s", method, path, raw)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "an answer that may hold a token is cached")
	}
	if u, err := url.Parse(answer.URL); err == nil && answer.URL != "" {
		addSecret("the token of an issued URL", u.Query().Get("sig"))
		raw = bytes.ReplaceAll(raw, []byte(answer.URL), []byte("(the issued URL)"))
	}
	suiteSawResponse(resp, raw)
	return resp.StatusCode, answer
}

// put uploads data to an issued URL, as a browser or media service would.
func put(t *testing.T, location string, data []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, location, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.Header.Set("x-ms-version", sas.DefaultVersion)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "PUT to an issued URL")
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("x-ms-error-code")
}

// TestIssuerAgainstAzurite: behind basic_auth, azure_sas hands each user
// URLs for blobs under their own prefix only, with the permissions and
// lifetime they asked for within the configured bounds; a create-only
// URL uploads once and cannot overwrite; a read link downloads with the
// header overrides; what is outside the bounds is refused, saying which.
func TestIssuerAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	t.Setenv("AZ_TEST_KEY", az.Key)
	t.Setenv("AZ_TEST_CONNECTION_STRING", "AccountName="+az.Account+";AccountKey="+az.Key+";BlobEndpoint="+az.Endpoint)
	var users strings.Builder
	for _, user := range []string{"alice", "bob"} {
		hash := passwordHash(t, user+"-password")
		fmt.Fprintf(&users, "\t\t\t%s %s\n", user, hash)
	}
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	route /sas {
		basic_auth {
%[2]s		}
		azure_sas {
			endpoint %[1]s
			container uploads
			account_key {env.AZ_TEST_KEY}
			prefix users/{http.auth.user.id}/
			permissions r c
			ttl 5m
			max_ttl 1h
			content_disposition attachment
		}
	}
	# Signed with a connection string's key.
	azure_sas /from-connection-string {
		container uploads
		connection_string {env.AZ_TEST_CONNECTION_STRING}
	}
	# The prefix from a request header, through a variable of the site's
	# own (a prefix takes no request data itself), to show how it is
	# resolved; a real site takes it from what its authentication sets.
	vars /by-header user {http.request.header.X-User}
	azure_sas /by-header {
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		prefix h/{http.vars.user}/
	}
}`, az.Endpoint, users.String()))

	// alice gets a create-only URL under her prefix and uploads once.
	status, got := askURL(t, http.MethodPost, "/sas", "alice", `{"blob": "photos/cat.jpg", "permissions": "c", "ttl": "10m"}`)
	require.Equal(t, http.StatusOK, status, "alice asks for an upload URL: %+v", got)
	assert.Equal(t, "users/alice/photos/cat.jpg", got.Blob)
	assert.Equal(t, "uploads", got.Container)
	assert.Equal(t, "c", got.Permissions)
	assert.WithinDuration(t, time.Now().Add(10*time.Minute), got.Expiry, 5*time.Second, "the lifetime asked for")
	u, err := url.Parse(got.URL)
	require.NoError(t, err)
	assert.Equal(t, "/"+az.Account+"/uploads/users/alice/photos/cat.jpg", u.Path)
	assert.Equal(t, "c", u.Query().Get("sp"))
	assert.Empty(t, u.Query().Get("rscd"), "a header override in an upload URL")
	cat := bytes.Repeat([]byte("CAT"), 100)
	code, _ := put(t, got.URL, cat)
	assert.Equal(t, http.StatusCreated, code, "the first upload")
	code, reason := put(t, got.URL, []byte("overwritten"))
	assert.Equal(t, http.StatusForbidden, code, "a create-only URL overwrote the blob")
	assert.Equal(t, "AuthorizationPermissionMismatch", reason)

	// A read link, by GET, downloads the same bytes with the override.
	status, link := askURL(t, http.MethodGet, "/sas?blob=photos/cat.jpg", "alice", "")
	require.Equal(t, http.StatusOK, status, "alice asks for a read link: %+v", link)
	assert.Equal(t, "r", link.Permissions)
	assert.WithinDuration(t, time.Now().Add(5*time.Minute), link.Expiry, 5*time.Second, "the default lifetime")
	resp, err := http.Get(link.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "downloading by the read link")
	assert.True(t, bytes.Equal(cat, body), "the read link's bytes")
	assert.Equal(t, "attachment", resp.Header.Get("Content-Disposition"), "rscd in the read link")

	// bob's URLs are under his prefix: he cannot reach alice's blob.
	status, bobs := askURL(t, http.MethodPost, "/sas", "bob", `{"blob": "photos/cat.jpg", "permissions": "c"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "users/bob/photos/cat.jpg", bobs.Blob)
	for _, body := range []string{
		`{"blob": "../alice/photos/cat.jpg", "permissions": "c"}`,
		`{"blob": "/users/alice/photos/cat.jpg", "permissions": "c"}`,
	} {
		status, refused := askURL(t, http.MethodPost, "/sas", "bob", body)
		assert.Equal(t, http.StatusBadRequest, status, "bob asks %s", body)
		assert.Equal(t, "blob", refused.Field, "bob asks %s", body)
		assert.Empty(t, refused.URL, "a refusal carries a URL")
	}

	// Outside the bounds: refused, naming the bound; never a token it did
	// not ask for.
	for _, tc := range []struct {
		method, body, query string
		status              int
		field               string
	}{
		{http.MethodPost, `{"blob": "a.jpg", "permissions": "cw"}`, "", http.StatusBadRequest, "permissions"},
		{http.MethodPost, `{"blob": "a.jpg", "permissions": "rz"}`, "", http.StatusBadRequest, "permissions"},
		{http.MethodPost, `{"blob": "a.jpg", "ttl": "2h"}`, "", http.StatusBadRequest, "ttl"},
		{http.MethodPost, `{"blob": "a.jpg", "ttl": "1.5s"}`, "", http.StatusBadRequest, "ttl"},
		{http.MethodPost, `{"blob": ""}`, "", http.StatusBadRequest, "blob"},
		{http.MethodPost, `{"blob": "dir/"}`, "", http.StatusBadRequest, "blob"},
		{http.MethodPost, `{"blob": "a\u0000b"}`, "", http.StatusBadRequest, "blob"},
		{http.MethodPost, `{"blob": "a.jpg", "extra": 1}`, "", http.StatusBadRequest, ""},
		{http.MethodGet, "", "?blob=a.jpg&permissions=c", http.StatusBadRequest, "permissions"},
		{http.MethodDelete, "", "", http.StatusMethodNotAllowed, ""},
	} {
		status, refused := askURL(t, tc.method, "/sas"+tc.query, "alice", tc.body)
		assert.Equal(t, tc.status, status, "%s %s %s", tc.method, tc.query, tc.body)
		assert.Equal(t, tc.field, refused.Field, "%s %s %s", tc.method, tc.query, tc.body)
		assert.NotEmpty(t, refused.Error, "%s %s %s: no reason", tc.method, tc.query, tc.body)
		assert.Empty(t, refused.URL, "%s %s %s: a refusal carries a URL", tc.method, tc.query, tc.body)
	}
	status, _ = askURL(t, http.MethodPost, "/sas", "", `{"blob": "a.jpg"}`)
	assert.Equal(t, http.StatusUnauthorized, status, "no credentials")

	// The body is read strictly: one object of strings, keys as written
	// and once each, nothing after it, valid UTF-8 and no escaped half of
	// a surrogate pair.
	for _, body := range []string{
		`{"blob": "a.jpg", "permissions": "r", "permissions": "c"}`,
		`{"blob": "\ud800.jpg"}`,
		`{"blob": "a.jpg"}{"blob": "b.jpg", "permissions": "c"}`,
		`{"blob": "a.jpg"} trailing`,
		`{"BLOB": "a.jpg"}`,
		`{"blob": null}`,
		`["a.jpg"]`,
		`{"blob": 7}`,
		"{\"blob\": \"a\xff.jpg\"}",
	} {
		status, refused := askURL(t, http.MethodPost, "/sas", "alice", body)
		assert.Equal(t, http.StatusBadRequest, status, "body %q", body)
		assert.NotEmpty(t, refused.Error, "body %q: no reason", body)
		assert.Empty(t, refused.URL, "body %q: a URL", body)
	}
	// A surrogate pair's escape names the character it spells: alice
	// uploads 😀.txt and reads it back by that name.
	status, smiley := askURL(t, http.MethodPost, "/sas", "alice", `{"blob": "\ud83d\ude00.txt", "permissions": "c"}`)
	require.Equal(t, http.StatusOK, status, "a name escaped as a surrogate pair: %s", smiley.Error)
	assert.Equal(t, "users/alice/😀.txt", smiley.Blob)
	code, _ = put(t, smiley.URL, []byte("SMILEY"))
	assert.Equal(t, http.StatusCreated, code, "the upload to 😀.txt")
	status, link = askURL(t, http.MethodGet, "/sas?blob="+url.QueryEscape("😀.txt"), "alice", "")
	if assert.Equal(t, http.StatusOK, status, "a read link for 😀.txt: %s", link.Error) {
		assert.Equal(t, "SMILEY", followed(t, link.URL), "what 😀.txt's read link reads")
	}

	// A page of another site, or of a sibling subdomain, gets no URL with
	// the credentials the browser remembers, and leaves no trace in the
	// issuance log or metric (counted below); the site's own pages do.
	for _, site := range []string{"cross-site", "same-site"} {
		for _, ask := range []struct{ method, path, body string }{
			{http.MethodGet, "/sas?blob=photos/cat.jpg", ""},
			{http.MethodPost, "/sas", `{"blob": "photos/cat.jpg", "permissions": "c"}`},
		} {
			status, refused := askURL(t, ask.method, ask.path, "alice", ask.body, "Sec-Fetch-Site", site)
			assert.Equal(t, http.StatusForbidden, status, "%s from a %s page", ask.method, site)
			assert.Contains(t, refused.Error, "answers pages of its own origin and clients that are not browsers", "%s from a %s page", ask.method, site)
			assert.Empty(t, refused.URL, "%s from a %s page: a URL", ask.method, site)
		}
	}
	status, link = askURL(t, http.MethodGet, "/sas?blob=photos/cat.jpg", "alice", "", "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusOK, status, "a read link for a page of the site: %s", link.Error)

	// A prefix placeholder that resolves empty, to more than one segment
	// or to a dot segment refuses the request.
	for user, want := range map[string]int{"": 403, "a/b": 403, "..": 403, ".": 403, "carol": 200} {
		req, err := http.NewRequest(http.MethodGet, testSite+"/by-header?blob=x.txt", nil)
		require.NoError(t, err)
		if user != "" {
			req.Header.Set("X-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, want, resp.StatusCode, "X-User %q: %s", user, raw)
		if want == 200 {
			var answer issued
			require.NoError(t, json.Unmarshal(raw, &answer))
			assert.Equal(t, "h/carol/x.txt", answer.Blob)
			if u, err := url.Parse(answer.URL); err == nil {
				addSecret("the token of an issued URL", u.Query().Get("sig"))
			}
		}
	}

	// A connection string's key signs as the account key does.
	status, link = askURL(t, http.MethodGet, "/from-connection-string?blob=users/alice/photos/cat.jpg", "", "")
	if assert.Equal(t, http.StatusOK, status, "a read link signed with a connection string: %+v", link) {
		assert.Equal(t, string(cat), followed(t, link.URL), "the connection string's read link")
	}

	// Each URL is logged without its signature, and counted.
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	var issuedLines int
	for line := range bytes.Lines(logs) {
		if bytes.Contains(line, []byte(`"msg":"issued a SAS URL"`)) {
			issuedLines++
			assert.Contains(t, string(line), `"user":"`, "an issued URL's log line names no user")
			assert.Contains(t, string(line), `"level":"info"`)
		}
	}
	assert.Equal(t, 8, issuedLines, "issued URLs logged")
	assert.False(t, bytes.Contains(logs, []byte("sig=")), "Caddy's log shows a token")
	metrics := scrapeMetrics(t)
	for perms, want := range map[string]float64{"c": 3, "r": 5} {
		v, ok := metricValue(metrics, "caddy_azure_sas_issued_total", `account="`+az.Account+`",container="uploads",permissions="`+perms+`"`)
		if assert.True(t, ok, "no issued_total for %s", perms) {
			assert.Equal(t, want, v, "issued_total for %s", perms)
		}
	}
}
