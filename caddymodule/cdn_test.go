package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
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
http://localhost:9080 {
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
		req, _ := http.NewRequest(http.MethodGet, "http://localhost:9080"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
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
		{"/site/my%20docs?x=1", "308", "", "./my%20docs/?x=1", ""},
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
		if fmt.Sprint(resp.StatusCode) != tc.status || body != tc.body || resp.Header.Get("Location") != tc.location {
			t.Errorf("GET %s: %d %q Location %q; want %s %q %q", tc.path, resp.StatusCode, body, resp.Header.Get("Location"), tc.status, tc.body, tc.location)
		}
		if tc.blobHeader != "" && resp.Header.Get("X-Blob") != tc.blobHeader {
			t.Errorf("GET %s: placeholders gave X-Blob %q, want %q", tc.path, resp.Header.Get("X-Blob"), tc.blobHeader)
		}
	}

	// The probe for a directory ignores the client's conditions and range,
	// which are for the page, not the index (an If-Match is answered 412
	// already by the first GET: the blob docs does not exist).
	for _, h := range [][]string{{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, {"If-None-Match", `"x"`}, {"Range", "bytes=100-"}} {
		if resp, _ := get("/site/docs", h...); resp.StatusCode != 308 || resp.Header.Get("Location") != "./docs/" {
			t.Errorf("GET /site/docs with %s: %d %q, want 308 to ./docs/", h[0], resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// Header overrides are signed into the token and sent by Azurite.
	resp, body := get("/dl/new.jpg")
	for name, want := range map[string]string{
		"Cache-Control": "public, max-age=31536000, immutable", "Content-Type": "application/x-download",
		"Content-Disposition": `attachment; filename="download.bin"`, "Content-Encoding": "identity", "Content-Language": "fr-CA",
	} {
		if got := resp.Header.Get(name); resp.StatusCode != 200 || body != "NEW" || got != want {
			t.Errorf("override %s: %d %q, got %q, want %q", name, resp.StatusCode, body, got, want)
		}
	}
	for path, want := range map[string]string{
		"/guess/clip.mp4": "video/mp4", "/guess/data.unknownext": "application/octet-stream", "/guess/new.jpg": "image/jpeg",
		"/img/new.jpg": "image/jpeg",
	} {
		if resp, _ := get(path); resp.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, resp.Header.Get("Content-Type"), want)
		}
	}
	if resp, _ := get("/img/clip.mp4"); resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("without guess_content_type: Content-Type %q", resp.Header.Get("Content-Type"))
	}

	// Revocation: once the policy is gone, the tokens naming it fail.
	az.RemoveAccessPolicy(t, "media", "cdn-readers")
	if resp, body := get("/policy/new.jpg"); resp.StatusCode != http.StatusBadGateway || body != "error 502" {
		t.Errorf("after the policy was removed: %d %q, want 502", resp.StatusCode, body)
	}
	logs, _ := os.ReadFile(logFile)
	if !bytes.Contains(logs, []byte(`Azure refused a freshly signed token that names a stored access policy: the policy was removed or changed (revoked)`)) ||
		!bytes.Contains(logs, []byte(`"policy":"cdn-readers"`)) {
		t.Errorf("no log line says the policy was revoked:\n%s", lastLogLines(logs, 5))
	}

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
		if !ok || got != want.value {
			t.Errorf("%s{%s} = %v (found: %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}
	// One signature per blob token: each a miss, none renewed yet; the
	// repeated paths hit the cache.
	signed, _ := metricValue(metrics, "caddy_azure_blob_signatures_total", `account="devstoreaccount1",container="site"`)
	misses, _ := metricValue(metrics, "caddy_azure_blob_token_cache_misses_total", `account="devstoreaccount1",container="site"`)
	hits, _ := metricValue(metrics, "caddy_azure_blob_token_cache_hits_total", `account="devstoreaccount1",container="site"`)
	if signed < 5 || signed != misses || hits < 5 {
		t.Errorf("site: %v signatures, %v misses, %v hits; want one signature per miss and the repeated paths served from the cache", signed, misses, hits)
	}
	if left, ok := metricValue(metrics, "caddy_azure_blob_sas_token_expiry_seconds", `account="devstoreaccount1",container="media"`); !ok || left <= 3000 || left > 3600 {
		t.Errorf("sas_token_expiry_seconds = %v (found: %v), want the hour the token has left", left, ok)
	}
	figure(t, "index, redirects, 5 header overrides, guessed types, 3 fallbacks, policy revocation and %d metric lines checked against Azurite",
		strings.Count(metrics, "caddy_azure_blob_"))
}

// scrapeMetrics reads the admin endpoint's /metrics.
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	suiteSaw("admin GET /metrics", body)
	return string(body)
}

// metricValue finds the sample of name with exactly labels (sorted, as
// Prometheus writes them).
func metricValue(metrics, name, labels string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
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
http://localhost:9080 {
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
	if resp, body := fetch(t, tester, http.MethodGet, "/x/there.jpg"); resp.StatusCode != 200 || string(body) != "THERE" {
		t.Errorf("GET /x/there.jpg: %d %q", resp.StatusCode, body)
	}
	if _, body := fetch(t, tester, http.MethodGet, "/x/secret.txt"); string(body) != "NOT FOUND PAGE" {
		t.Errorf("GET /x/secret.txt: %q, want the error page", body)
	}
}
