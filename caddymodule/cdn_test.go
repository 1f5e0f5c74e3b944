package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
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

// TestCDNFeaturesAgainstAzurite serves one site from Azurite with the
// features a CDN origin needs: an index and directory redirects, response
// header overrides signed into the token, a guessed content type, fallback
// origins (another container, another prefix, another account), a stored
// access policy that is then revoked, the placeholders and the metrics.
func TestCDNFeaturesAgainstAzurite(t *testing.T) {
	otherKey := testKey(7)
	addSecret("the other account's key", otherKey)
	az := azurite.Start(t, azurite.Accounts(
		azurite.Account{Name: sas.DevAccountName, Keys: []string{sas.DevAccountKey}},
		azurite.Account{Name: "otheracct", Keys: []string{otherKey}}))
	for _, c := range []string{"site", "media", "archive"} {
		az.CreateContainer(t, c, false)
	}
	az.Upload(t, "site", "index.html", []byte("<h1>home</h1>"), "text/html")
	az.Upload(t, "site", "docs/index.html", []byte("<h1>docs</h1>"), "text/html")
	az.Upload(t, "site", "my docs/index.html", []byte("<h1>my docs</h1>"), "text/html")
	az.Upload(t, "site", "docs/page.html", []byte("<p>page</p>"), "text/html")
	az.Upload(t, "media", "new.jpg", []byte("NEW"), "image/jpeg")
	az.Upload(t, "media", "clip.mp4", []byte("MP4"), "")        // Azure stores application/octet-stream
	az.Upload(t, "media", "data.unknownext", []byte("BIN"), "") // no type to guess
	az.Upload(t, "archive", "old.jpg", []byte("OLD"), "image/jpeg")
	az.Upload(t, "archive", "2019/older.jpg", []byte("OLDER"), "image/jpeg")
	other := az.AsAccount(t, "otheracct", otherKey)
	other.CreateContainer(t, "media", false)
	other.Upload(t, "media", "elsewhere.jpg", []byte("ELSEWHERE"), "image/jpeg")
	az.SetAccessPolicy(t, "media", "cdn-readers", "r", time.Time{}, time.Time{})

	t.Setenv("AZ_TEST_KEY", az.Key)
	t.Setenv("AZ_OTHER_KEY", otherKey)
	t.Setenv("AZ_MEDIA_TOKEN", mediaToken(t, az.Key))
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n\tmetrics\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	header >X-Blob "{http.azure_blob.account}/{http.azure_blob.container}/{http.azure_blob.blob}"
	azure_blob /site/* {
		strip_prefix /site
		endpoint %[1]s
		container site
		account_key {env.AZ_TEST_KEY}
		index index.html
	}
	azure_blob /img/* {
		strip_prefix /img
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		fallback {
			container archive
		}
		fallback {
			container archive
			prefix 2019/
		}
		fallback {
			endpoint %[2]s/otheracct
			account_key {env.AZ_OTHER_KEY}
		}
	}
	azure_blob /dl/* {
		strip_prefix /dl
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		cache_control "public, max-age=31536000, immutable"
		content_type application/x-download
		content_disposition "attachment; filename=\"download.bin\""
		content_encoding identity
		content_language fr-CA
	}
	azure_blob /guess/* {
		strip_prefix /guess
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		guess_content_type
	}
	azure_blob /policy/* {
		strip_prefix /policy
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		policy cdn-readers
	}
	azure_blob /tok/* {
		strip_prefix /tok
		endpoint %[1]s
		container media
		sas_token {env.AZ_MEDIA_TOKEN}
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint, strings.TrimSuffix(az.Endpoint, "/"+az.Account)))

	noRedirect := *tester.Client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, testSite+path, nil)
		require.NoError(t, err, "GET %s", path)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noRedirect.Do(req)
		require.NoError(t, err, "GET %s", path)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "GET %s: reading the body", path)
		suiteSawResponse(resp, body)
		return resp, string(body)
	}
	for _, tc := range []struct {
		path, status, body, location, blobHeader string
	}{
		// index, and the redirect of a directory without its '/'
		{"/site/", "200", "<h1>home</h1>", "", "devstoreaccount1/site/index.html"},
		{"/site/docs/", "200", "<h1>docs</h1>", "", "devstoreaccount1/site/docs/index.html"},
		{"/site/docs", "308", "", "./docs/", ""},
		{"/site/my%20docs?x=1", "308", "", "./my%20docs/", ""},
		{"/site/docs/page.html", "200", "<p>page</p>", "", "devstoreaccount1/site/docs/page.html"},
		{"/site/nodir", "404", "error 404", "", ""},
		{"/site/nodir/", "404", "error 404", "", ""},
		// fallbacks, in order: another container, another prefix, another account
		{"/img/new.jpg", "200", "NEW", "", "devstoreaccount1/media/new.jpg"},
		{"/img/old.jpg", "200", "OLD", "", "devstoreaccount1/archive/old.jpg"},
		{"/img/older.jpg", "200", "OLDER", "", "devstoreaccount1/archive/2019/older.jpg"},
		{"/img/elsewhere.jpg", "200", "ELSEWHERE", "", "otheracct/media/elsewhere.jpg"},
		{"/img/nowhere.jpg", "404", "error 404", "", ""},
		// a stored access policy
		{"/policy/new.jpg", "200", "NEW", "", "devstoreaccount1/media/new.jpg"},
	} {
		resp, body := get(tc.path)
		assert.Equal(t, tc.status, fmt.Sprint(resp.StatusCode), "GET %s: status", tc.path)
		assert.Equal(t, tc.body, body, "GET %s: body", tc.path)
		assert.Equal(t, tc.location, resp.Header.Get("Location"), "GET %s: Location", tc.path)
		if tc.blobHeader != "" {
			assert.Equal(t, tc.blobHeader, resp.Header.Get("X-Blob"), "GET %s: the placeholders in X-Blob", tc.path)
		}
	}

	// The probe for a directory ignores the client's conditions and range,
	// which are for the page, not the index (an If-Match is answered 412
	// already by the first GET: the blob docs does not exist).
	for _, h := range [][]string{{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, {"If-None-Match", `"x"`}, {"Range", "bytes=100-"}} {
		resp, _ := get("/site/docs", h...)
		assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, "GET /site/docs with %s: want 308 to ./docs/", h[0])
		assert.Equal(t, "./docs/", resp.Header.Get("Location"), "GET /site/docs with %s: want 308 to ./docs/", h[0])
	}

	// Header overrides are signed into the token and sent by Azurite.
	resp, body := get("/dl/new.jpg")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /dl/new.jpg")
	assert.Equal(t, "NEW", body, "GET /dl/new.jpg")
	for name, want := range map[string]string{
		"Cache-Control": "public, max-age=31536000, immutable", "Content-Type": "application/x-download",
		"Content-Disposition": `attachment; filename="download.bin"`, "Content-Encoding": "identity", "Content-Language": "fr-CA",
	} {
		assert.Equal(t, want, resp.Header.Get(name), "override %s", name)
	}
	// A revalidation's 304 carries the Cache-Control the 200 did (RFC 9111
	// 4.3.4), which Azure leaves out: a shield keeps the refreshed object
	// for that TTL, not for its own default.
	resp, _ = get("/dl/new.jpg", "If-None-Match", resp.Header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, resp.StatusCode, "GET /dl/new.jpg with its ETag")
	assert.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), "the 304's Cache-Control")
	for path, want := range map[string]string{
		"/guess/clip.mp4": "video/mp4", "/guess/data.unknownext": "application/octet-stream", "/guess/new.jpg": "image/jpeg",
		"/img/new.jpg": "image/jpeg",
	} {
		resp, _ := get(path)
		assert.Equal(t, want, resp.Header.Get("Content-Type"), "GET %s: Content-Type", path)
	}
	resp, _ = get("/img/clip.mp4")
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"), "without guess_content_type: Content-Type")

	// Revocation: once the policy is gone, the tokens naming it fail.
	az.RemoveAccessPolicy(t, "media", "cdn-readers")
	resp, body = get("/policy/new.jpg")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "after the policy was removed")
	assert.Equal(t, "error 502", body, "after the policy was removed")
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(logs), `Azure refused a freshly signed token that names a stored access policy: the policy was removed or changed (revoked)`,
		"no log line says the policy was revoked:\n%s", lastLogLines(logs, 5))
	assert.Contains(t, string(logs), `"policy":"cdn-readers"`, "no log line names the revoked policy:\n%s", lastLogLines(logs, 5))

	metrics := scrapeMetrics(t)
	for _, want := range []struct {
		name, labels string
		value        float64
	}{
		// Index probes are not fallbacks.
		{"caddy_azure_blob_fallbacks_total", `account="devstoreaccount1",container="site"`, 0},
		// old.jpg asks archive once; older, elsewhere and nowhere twice each
		// (archive, then archive under 2019/).
		{"caddy_azure_blob_fallbacks_total", `account="devstoreaccount1",container="archive"`, 7},
		{"caddy_azure_blob_fallbacks_total", `account="otheracct",container="media"`, 2},
		// The revoked policy: the first try and the re-signed one.
		{"caddy_azure_blob_upstream_auth_failures_total", `account="devstoreaccount1",container="media"`, 1},
	} {
		got, ok := metricValue(metrics, want.name, want.labels)
		if assert.True(t, ok, "%s{%s} not found", want.name, want.labels) {
			assert.Equal(t, want.value, got, "%s{%s}", want.name, want.labels)
		}
	}
	// One signature per blob token: each a miss, none renewed yet; the
	// repeated paths hit the cache.
	site := func(name string) float64 {
		t.Helper()
		v, ok := metricValue(metrics, name, `account="devstoreaccount1",container="site"`)
		assert.True(t, ok, "%s for the site not found", name)
		return v
	}
	signed, misses, hits := site("caddy_azure_blob_signatures_total"), site("caddy_azure_blob_token_cache_misses_total"), site("caddy_azure_blob_token_cache_hits_total")
	assert.GreaterOrEqual(t, signed, 5.0, "site: signatures")
	assert.Equal(t, misses, signed, "site: want one signature per cache miss")
	assert.GreaterOrEqual(t, hits, 5.0, "site: cache hits; the repeated paths should be served from the cache")
	left, ok := metricValue(metrics, "caddy_azure_blob_sas_token_expiry_seconds", `account="devstoreaccount1",container="media"`)
	if assert.True(t, ok, "sas_token_expiry_seconds not found") {
		// The hour the token has left.
		assert.Greater(t, left, 3000.0, "sas_token_expiry_seconds")
		assert.LessOrEqual(t, left, 3600.0, "sas_token_expiry_seconds")
	}
	figure(t, "index, redirects, 5 header overrides, guessed types, 3 fallbacks, policy revocation and %d metric lines checked against Azurite",
		strings.Count(metrics, "caddy_azure_blob_"))
}

// TestErrorPageFromAzuriteMapsItsOwnPath serves a 404 page from Azurite in
// handle_errors, through a fallback: that origin must map the error page's
// path, not the path the client asked for (which would serve any blob under
// its prefix as the "error page").
func TestErrorPageFromAzuriteMapsItsOwnPath(t *testing.T) {
	az := azurite.Start(t)
	for _, c := range []string{"media", "site", "archive"} {
		az.CreateContainer(t, c, false)
	}
	az.Upload(t, "media", "there.jpg", []byte("THERE"), "image/jpeg")
	az.Upload(t, "archive", "pages/404.html", []byte("NOT FOUND PAGE"), "text/html")
	az.Upload(t, "archive", "pages/x/secret.txt", []byte("LEAK"), "text/plain")
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /x/* {
		strip_prefix /x
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
	}
	handle_errors 404 {
		rewrite * /404.html
		azure_blob {
			endpoint %[1]s
			container site
			account_key {env.AZ_TEST_KEY}
			fallback {
				container archive
				prefix pages/
			}
		}
	}
}`, az.Endpoint))
	resp, body := fetch(t, tester, http.MethodGet, "/x/there.jpg")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /x/there.jpg")
	assert.Equal(t, "THERE", string(body), "GET /x/there.jpg")
	_, body = fetch(t, tester, http.MethodGet, "/x/secret.txt")
	assert.Equal(t, "NOT FOUND PAGE", string(body), "GET /x/secret.txt: want the error page")
}
