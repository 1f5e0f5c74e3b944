package cluster_test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
)

// hitsNeverReachAzure: after the first read, reads, ranges and HEADs are
// hits that Azurite never sees.
func (d *deployment) hitsNeverReachAzure(t *testing.T) {
	cat := randomBytes(t, 4096)
	d.az.Upload(t, "photos", "hits/cat.jpg", cat, "image/jpeg")

	resp, body := d.get(t, http.MethodGet, "/images/hits/cat.jpg", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, cat, body, "first read")
	assert.Equal(t, "miss", resp.Header.Get("X-Cache"), "first read")
	assert.Equal(t, "public, max-age=3", resp.Header.Get("Cache-Control"), "the TTL cache_control signs in")

	for i := range 5 {
		// A query string names no other object (azure_blob drops it).
		resp, body = d.get(t, http.MethodGet, fmt.Sprintf("/images/hits/cat.jpg?v=%d", i), nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, cat, body, "read %d", i+2)
		assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "read %d", i+2)
	}
	resp, body = d.get(t, http.MethodGet, "/images/hits/cat.jpg", http.Header{"Range": {"bytes=100-199"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a range of the cached object")
	assert.Equal(t, cat[100:200], body, "bytes 100-199")
	assert.Equal(t, "bytes 100-199/4096", resp.Header.Get("Content-Range"))
	resp, body = d.get(t, http.MethodGet, "/images/hits/cat.jpg", http.Header{"Range": {"bytes=-100"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a suffix range of the cached object")
	assert.Equal(t, cat[len(cat)-100:], body, "the last 100 bytes")
	resp, body = d.get(t, http.MethodHead, "/images/hits/cat.jpg", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD")
	assert.Equal(t, "4096", resp.Header.Get("Content-Length"), "HEAD")
	assert.Empty(t, body, "HEAD")
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "HEAD")

	assert.Equal(t, []string{"200"}, d.azureGets("hits/cat.jpg"), "Azure saw the first read only")
	// A HEAD first, on a miss, is fetched as a GET and cached for both.
	d.az.Upload(t, "photos", "hits/head-first.jpg", cat, "image/jpeg")
	resp, _ = d.get(t, http.MethodHead, "/images/hits/head-first.jpg", nil)
	assert.Equal(t, "4096", resp.Header.Get("Content-Length"), "HEAD on a miss")
	resp, body = d.get(t, http.MethodGet, "/images/hits/head-first.jpg", nil)
	assert.Equal(t, cat, body, "GET after a HEAD")
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "GET after a HEAD")
	assert.Equal(t, []string{"200"}, d.azureGets("hits/head-first.jpg"), "Azure saw one GET for the HEAD and the GET")
}

// spellings: the spellings of a path that reach the same blob at a node
// (the route prefix's case, //, %XX of an unreserved character) are hits
// on the object cached for it, which Azure never sees. Escapes of
// reserved characters are left as they are, and what no client sends (a
// dot segment, a % that starts no escape) is refused by the shield.
func (d *deployment) spellings(t *testing.T) {
	png := randomBytes(t, 2048)
	d.az.Upload(t, "photos", "spelt/pattern.png", png, "image/png")
	resp, body := d.getAsWritten(t, "/images/spelt/pattern.png")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, png, body)
	require.Equal(t, "miss", resp.Header.Get("X-Cache"), "first read")

	spellings := []string{
		"/IMAGES/spelt/pattern.png",
		"/Images/spelt/pattern.png?v=2",
		"/images//spelt/pattern.png",
		"//images///spelt/pattern.png",
		"/images/spelt/patter%6E.png",
		"/images/spelt/patter%6e.png",
		"/images/spelt/pattern%2Epng",
		"/%69mages/%73pelt/%70%61%74%74%65%72%6E%2E%70%6E%67",
		"/%49MAGES/spelt/pattern.png",
	}
	hits := 0
	for _, path := range spellings {
		resp, body := d.getAsWritten(t, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, png, body, path)
		if assert.Equal(t, "hit", resp.Header.Get("X-Cache"), path) {
			hits++
		}
	}
	gets := d.azureGets("spelt/pattern.png")
	assert.Equal(t, []string{"200"}, gets, "Azure saw the first read only")
	figures.Report(t, "%d of %d other spellings of /images/spelt/pattern.png were hits; Azure saw %d GET", hits, len(spellings), len(gets))

	// %2F and %25 are not decoded: an escaped slash is another object (the
	// node reads the same blob), and patter%256E.png names the blob
	// "patter%6E.png", which does not exist.
	resp, body = d.getAsWritten(t, "/images/spelt%2Fpattern.png")
	assert.Equal(t, png, body, "an escaped slash, at the node")
	assert.Equal(t, "miss", resp.Header.Get("X-Cache"), "an escaped slash is another object")
	resp, _ = d.getAsWritten(t, "/images/spelt/patter%256E.png")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%25 decoded once, by the node")
	for _, path := range []string{"/images/spelt/x/../pattern.png", "/x/../images/spelt/pattern.png", "/images/./spelt/pattern.png",
		"/images/spelt/%2E%2E/spelt/pattern.png", "/images/spelt%2F..%2Fspelt/pattern.png", "/images/spelt/%%370attern.png"} {
		resp, _ = d.getAsWritten(t, path)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, path)
		assert.Empty(t, resp.Header.Get("X-Cache"), "%s: answered by the shield itself", path)
	}
	assert.Equal(t, []string{"200", "200"}, d.azureGets("spelt/pattern.png"), "Azure saw the first read and the escaped slash's")
}

// revalidation: past its TTL an object is revalidated (a 304 from Azure
// keeps it, for the signed TTL again); a changed blob is served whole, once
// the TTL runs out and not before.
func (d *deployment) revalidation(t *testing.T) {
	v1, v2 := randomBytes(t, 3000), randomBytes(t, 5000)
	d.az.Upload(t, "photos", "ttl/a.bin", v1, "application/octet-stream")
	resp, body := d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, v1, body)
	etag := resp.Header.Get("ETag")
	assert.NotEmpty(t, etag, "Azure's ETag reaches the shield")
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"), "Azure's Last-Modified reaches the shield")

	time.Sleep(imageTTL + 500*time.Millisecond)
	refreshed := time.Now()
	resp, body = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "past the TTL")
	assert.Equal(t, v1, body, "past the TTL, unchanged")
	assert.Equal(t, []string{"200", "304"}, d.azureGets("ttl/a.bin"), "past the TTL the shield revalidated (304), not fetched again")
	resp, _ = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "the 304 refreshed the object")
	assert.Equal(t, etag, resp.Header.Get("ETag"))

	d.az.Upload(t, "photos", "ttl/a.bin", v2, "application/octet-stream")
	changed := time.Now()
	var sawNew time.Duration
	for time.Since(changed) < imageTTL+5*time.Second {
		_, body = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
		_, partial := d.get(t, http.MethodGet, "/images/ttl/a.bin", http.Header{"Range": {"bytes=-1000"}})
		switch {
		case bytes.Equal(body, v2):
			sawNew = time.Since(changed)
			assert.Equal(t, v2[len(v2)-1000:], partial, "a range of the new version")
		case bytes.Equal(body, v1):
			if !bytes.Equal(partial, v1[len(v1)-1000:]) && !bytes.Equal(partial, v2[len(v2)-1000:]) {
				t.Errorf("a range matches neither version")
			}
		default:
			t.Fatalf("%d bytes that are neither version", len(body))
		}
		if sawNew > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotZero(t, sawNew, "the changed blob was not served within its TTL; Azure answered %v", d.azureGets("ttl/a.bin"))
	// Once: within 3 s of the TTL's end, room for a loaded machine's slow
	// requests; "not before" below is the exact half of the claim.
	assert.LessOrEqual(t, sawNew, imageTTL+3*time.Second, "the changed blob is served once the TTL runs out")
	// Not before: the 304 gave the refreshed object the signed TTL.
	assert.GreaterOrEqual(t, changed.Add(sawNew).Sub(refreshed), imageTTL-300*time.Millisecond,
		"the changed blob was served before the refreshed object's TTL ran out")
	figures.Report(t, "a changed blob was served %.1f s after it changed (TTL %s)", sawNew.Seconds(), imageTTL)
}

// errors: a 404 is kept for its max-age=10, a 503 with Retry-After not at
// all.
func (d *deployment) errors(t *testing.T) {
	first := time.Now()
	resp, _ := d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "max-age=10", resp.Header.Get("Cache-Control"), "what a 404 tells a shield")
	resp, _ = d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "the 404 is kept")
	assert.Len(t, d.azureGets("late/upload.jpg"), 1, "Azure saw one request for the missing name")

	late := randomBytes(t, 100)
	d.az.Upload(t, "photos", "late/upload.jpg", late, "image/jpeg")
	var shown time.Duration
	for time.Since(first) < notFoundTTL+5*time.Second {
		resp, body := d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
		if resp.StatusCode == http.StatusOK {
			assert.Equal(t, late, body)
			shown = time.Since(first)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NotZero(t, shown, "an upload after a 404 was not served")
	assert.LessOrEqual(t, shown, notFoundTTL+3*time.Second, "the 404 was kept past its max-age") // 3 s for a loaded machine
	assert.GreaterOrEqual(t, shown, notFoundTTL-300*time.Millisecond, "the 404 was not kept for its max-age")
	figures.Report(t, "an upload after a 404 was served %.1f s after the 404 (max-age=10)", shown.Seconds())

	for range 3 {
		resp, _ = d.get(t, http.MethodGet, "/busy/a.jpg", nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "Azure busy")
		assert.Equal(t, "30", resp.Header.Get("Retry-After"), "Azure's Retry-After")
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "what a 503 tells a shield")
	}
	assert.Len(t, d.busy.Requests(), 3, "every request for the busy blob reached Azure: the 503 was not kept")
}

// nothingSecret searches everything Varnish logged (client and backend
// requests and responses, object headers) for a token or Azure's headers.
func (d *deployment) nothingSecret(t *testing.T) {
	log := d.shield.Log(t)
	require.Contains(t, log, "/images/hits/cat.jpg", "the log holds the requests the tests made")
	require.Contains(t, log, "/dl/downloads/sunset.jpg", "the log holds the requests for a redirect route")
	for _, secret := range []string{"sig=", "sv=", "se=", "x-ms-", "X-Ms-", d.keys[0], d.keys[1]} {
		assert.NotContains(t, log, secret, "varnishlog shows %q", strings.TrimRight(secret[:min(len(secret), 6)], "="))
	}
	assert.NotRegexp(t, regexp.MustCompile(`[A-Za-z0-9%+/]{43}(=|%3D)`), log, "something shaped like a signature")
}
