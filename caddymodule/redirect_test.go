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
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/blobnames"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// noFollow is a client that shows a redirect instead of following it.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// askRedirect sends method path to Caddy and returns its answer and
// Location. Location is where the token is meant to be; the rest of the
// answer goes through the suite's search for secrets, and the signature
// joins the secrets looked for in Caddy's logs.
func askRedirect(t *testing.T, method, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, testSite+path, nil)
	require.NoError(t, err, "%s %s", method, path)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noFollow.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err, "%s %s: reading the body", method, path)
	location := resp.Header.Get("Location")
	if u, err := url.Parse(location); err == nil {
		addSecret("the token of a redirect", u.Query().Get("sig"))
	}
	rest := *resp
	rest.Header = resp.Header.Clone()
	rest.Header.Del("Location")
	suiteSawResponse(&rest, body)
	return resp, location
}

// followed returns what a client following location gets from Azurite.
func followed(t *testing.T, location string) string {
	t.Helper()
	resp, err := http.Get(location)
	require.NoError(t, err, "following a redirect")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "following a redirect")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "following a redirect")
	return string(body)
}

// TestRedirectsAgainstAzurite: with redirect, Caddy answers with the blob's
// URL on Azurite and a read-only token for exactly that blob, which
// Azurite accepts, for every odd name, with ranges and header overrides;
// index pages and fallbacks are found with signed HEAD probes; the token
// appears in Location and in no log, access log included.
func TestRedirectsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "odd", false)
	az.CreateContainer(t, "site", false)
	az.CreateContainer(t, "archive", false)
	content := make(map[string][]byte, len(blobnames.Odd))
	for i, name := range blobnames.Odd {
		content[name] = fmt.Appendf(nil, "blob %d: %s", i, name)
		az.Upload(t, "odd", name, content[name], "application/octet-stream")
	}
	az.Upload(t, "site", "docs/index.html", []byte("<h1>docs</h1>"), "text/html")
	az.Upload(t, "archive", "old.txt", []byte("from the archive"), "text/plain")
	az.CreateContainer(t, "media", false)
	az.Upload(t, "media", "clip.webm", []byte("WEBM"), "video/webm")
	az.CreateContainer(t, "public", true)
	az.Upload(t, "public", "logo.txt", []byte("LOGO"), "text/plain")
	t.Setenv("AZ_TEST_KEY", az.Key)
	// The same Azurite by another name, as a CDN or custom domain would be.
	otherName := strings.Replace(az.Endpoint, "127.0.0.1", "localhost", 1)
	accessLog := filepath.Join(t.TempDir(), "access.log")

	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	log {
		output file %[2]s
		format json
	}
	encode gzip
	azure_blob /r/* {
		strip_prefix /r
		endpoint %[1]s
		container odd
		account_key {env.AZ_TEST_KEY}
		content_disposition attachment
		cache_control "public, max-age=60"
		redirect 302 2m
	}
	azure_blob /s/* {
		strip_prefix /s
		endpoint %[1]s
		container site
		account_key {env.AZ_TEST_KEY}
		index index.html
		redirect 307
		fallback {
			container archive
		}
	}
	azure_blob /m/* {
		strip_prefix /m
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		redirect
		redirect_endpoint %[3]s
	}
	azure_blob /p/* {
		strip_prefix /p
		endpoint %[1]s
		container public
		anonymous
		redirect 303
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint, accessLog, otherName))

	key, err := sas.NewSharedKey(az.Account, az.Key)
	require.NoError(t, err)
	// checkToken asserts that location is the blob's URL on Azurite with a
	// read-only token for exactly that blob.
	checkToken := func(location, container, name string) {
		t.Helper()
		u, err := url.Parse(location)
		require.NoError(t, err, "Location %.80s", location)
		wantPath := "/" + az.Account + "/" + container + "/" + name
		assert.Equal(t, wantPath, u.Path, "Location's blob")
		tok, err := sas.Parse(u.RawQuery)
		require.NoError(t, err, "the token of %q", name)
		assert.Equal(t, "r", tok.PermissionString(), "%q: permissions", name)
		assert.Equal(t, sas.ResourceBlob, tok.Resource, "%q: resource", name)
		assert.NoError(t, tok.VerifyService(key, container, name, ""), "%q: the token is not for this blob", name)
	}

	for _, name := range blobnames.Odd {
		path := "/r/" + azurite.EscapeBlobPath(name)
		resp, location := askRedirect(t, http.MethodGet, path)
		if !assert.Equal(t, http.StatusFound, resp.StatusCode, "GET %.60q", name) {
			continue
		}
		checkToken(location, "odd", name)
		maxAge, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Cache-Control"), "max-age="), ", must-revalidate"))
		if assert.NoError(t, err, "Cache-Control %q", resp.Header.Get("Cache-Control")) {
			// ttl 2m, renewed with 30s left: a cache keeps it at most 90s.
			assert.True(t, maxAge > 60 && maxAge <= 90, "max-age %d, want at most 90", maxAge)
		}
		got, err := http.Get(location)
		require.NoError(t, err, "following the redirect for %.60q", name)
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, got.StatusCode, "Azurite for %.60q", name)
		assert.Equal(t, string(content[name]), string(body), "Azurite for %.60q", name)
		assert.Equal(t, "public, max-age=60", got.Header.Get("Cache-Control"), "rscc signed into the URL")
		assert.Equal(t, "attachment", got.Header.Get("Content-Disposition"), "rscd signed into the URL")
	}

	// A range on the redirected URL, and the same URL while the token lives.
	name := blobnames.Odd[0]
	_, first := askRedirect(t, http.MethodGet, "/r/"+azurite.EscapeBlobPath(name))
	resp, again := askRedirect(t, http.MethodHead, "/r/"+azurite.EscapeBlobPath(name))
	assert.Equal(t, http.StatusFound, resp.StatusCode, "HEAD")
	assert.Equal(t, first, again, "a second redirect for the blob carries another URL")
	req, err := http.NewRequest(http.MethodGet, first, nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=2-5")
	got, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, got.StatusCode, "Range on the redirected URL")
	assert.Equal(t, string(content[name][2:6]), string(body), "Range on the redirected URL")

	// Index pages and fallbacks, found with signed HEAD probes.
	resp, location := askRedirect(t, http.MethodGet, "/s/docs/")
	if assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode, "GET /s/docs/") {
		checkToken(location, "site", "docs/index.html")
	}
	resp, location = askRedirect(t, http.MethodGet, "/s/docs?x=1")
	assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, "GET /s/docs: a directory without its '/'")
	assert.Equal(t, "./docs/", location, "GET /s/docs: the query is left out")
	resp, location = askRedirect(t, http.MethodGet, "/s/old.txt")
	if assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode, "GET /s/old.txt from the fallback") {
		checkToken(location, "archive", "old.txt")
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/s/missing.txt", http.StatusNotFound},
		{http.MethodPost, "/r/x.txt", http.StatusMethodNotAllowed},
		{http.MethodGet, "/r/a/%2e%2e/b.txt", http.StatusBadRequest},
	} {
		resp, location := askRedirect(t, tc.method, tc.path)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		assert.Empty(t, location, "%s %s: a refusal carries a Location", tc.method, tc.path)
	}

	// redirect_endpoint gets the blob's path and token; anonymous sends the
	// client to the plain URL.
	resp, location = askRedirect(t, http.MethodGet, "/m/clip.webm")
	if assert.Equal(t, http.StatusFound, resp.StatusCode, "GET /m/clip.webm (redirect_endpoint)") {
		assert.True(t, strings.HasPrefix(location, otherName+"/media/clip.webm?"), "redirect_endpoint: Location %.60s", location)
		checkToken(location, "media", "clip.webm")
		assert.Equal(t, "WEBM", followed(t, location), "the redirect to redirect_endpoint")
	}

	// An answer to a request with credentials is for the client's own
	// cache only; the same request without them may be kept by a CDN.
	_, anonymous := askRedirect(t, http.MethodGet, "/m/clip.webm")
	for _, header := range [][2]string{{"Authorization", "Basic YWxpY2U6c2VjcmV0"}, {"Cookie", "session=abc"}} {
		resp, location := askRedirect(t, http.MethodGet, "/m/clip.webm", header[0], header[1])
		assert.Equal(t, anonymous, location, "with %s: the same token from the cache", header[0])
		assert.Regexp(t, `^private, max-age=\d+, must-revalidate$`, resp.Header.Get("Cache-Control"), "with %s", header[0])
	}
	assert.Regexp(t, `^max-age=\d+, must-revalidate$`, resp.Header.Get("Cache-Control"), "without credentials")
	resp, location = askRedirect(t, http.MethodGet, "/p/logo.txt")
	if assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "GET /p/logo.txt (anonymous)") {
		assert.Equal(t, az.Endpoint+"/public/logo.txt", location, "anonymous: the plain URL")
		assert.Equal(t, "LOGO", followed(t, location), "the anonymous redirect")
	}

	// Redirects are counted per account and container; the 308 and the
	// refusals are not redirects to a blob.
	metrics := scrapeMetrics(t)
	for container, want := range map[string]float64{"odd": float64(len(blobnames.Odd) + 2), "site": 1, "archive": 1, "media": 4, "public": 1} {
		got, ok := metricValue(metrics, "caddy_azure_blob_redirects_total", `account="`+az.Account+`",container="`+container+`"`)
		if assert.True(t, ok, "no redirects_total for %s", container) {
			assert.Equal(t, want, got, "redirects_total for %s", container)
		}
	}

	// The access log recorded every redirect, and no Location but the
	// 308's, which holds no token.
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	redirects, locations := 0, 0
	for line := range bytes.Lines(logged) {
		var entry struct {
			Status  int                 `json:"status"`
			Headers map[string][]string `json:"resp_headers"`
		}
		require.NoError(t, json.Unmarshal(line, &entry), "an access log line")
		if entry.Status == http.StatusFound {
			redirects++
		}
		if loc, ok := entry.Headers["Location"]; ok {
			locations++
			assert.Equal(t, []string{"./docs/"}, loc, "a Location in the access log")
		}
	}
	assert.GreaterOrEqual(t, redirects, len(blobnames.Odd)+1, "302s in the access log")
	assert.Equal(t, 1, locations, "Locations in the access log")
	assert.False(t, bytes.Contains(logged, []byte("sig=")), "the access log shows a token")
	figure(t, "%d odd blob names redirected to Azurite with read-only per-blob tokens and read back byte-exact; index, fallback and 404 found with signed HEAD probes; no token in the access log", len(blobnames.Odd))
}
