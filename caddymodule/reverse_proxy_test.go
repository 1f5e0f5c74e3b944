package caddymodule_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestTransportThroughCaddyAgainstAzurite runs Caddy's own reverse_proxy
// with the azure_blob transport in front of a private Azurite container.
func TestTransportThroughCaddyAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	cat := bytes.Repeat([]byte("JPEGDATA"), 1000)
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	odd := "2024/a b+c#d?e;f=g&h%20é.txt"
	az.Upload(t, "photos", odd, []byte("odd name"), "text/plain")
	t.Setenv("AZ_TEST_KEY", az.Key)

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	reverse_proxy 127.0.0.1:%d {
		transport azure_blob {
			endpoint    %s
			container   photos
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, az.Port, az.Endpoint))

	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		return fetch(t, tester, http.MethodGet, path, header...)
	}

	resp, body := get("/photos/cat.jpg?comp=list&restype=container")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET cat.jpg")
	require.Len(t, body, len(cat), "GET cat.jpg")
	require.True(t, bytes.Equal(body, cat), "GET cat.jpg: not the blob's bytes")
	assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"), "headers %v", resp.Header)
	assert.Equal(t, fmt.Sprint(len(cat)), resp.Header.Get("Content-Length"), "headers %v", resp.Header)
	assert.NotEmpty(t, resp.Header.Get("ETag"), "headers %v", resp.Header)
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"), "headers %v", resp.Header)
	for name := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "x-ms-"), "response header %s: %s reached the client", name, resp.Header.Get(name))
	}
	assert.NotContains(t, resp.Header.Get("Server"), "Azurite", "Azurite's Server header reached the client")

	if resp, body := get("/photos/2024/a%20b+c%23d%3Fe;f=g&h%2520%C3%A9.txt"); assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %q", odd) {
		assert.Equal(t, "odd name", string(body), "GET %q", odd)
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=8-15"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "Range") {
		assert.Equal(t, "JPEGDATA", string(body), "Range")
	}
	// Azure lacks suffix ranges; players and zip readers send them.
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-8"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "suffix range") {
		assert.Equal(t, "JPEGDATA", string(body), "suffix range")
		assert.Equal(t, fmt.Sprintf("bytes %d-%d/%d", len(cat)-8, len(cat)-1, len(cat)), resp.Header.Get("Content-Range"), "suffix range")
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-999999"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "suffix range over the size") {
		assert.Len(t, body, len(cat), "suffix range over the size")
		assert.True(t, bytes.Equal(body, cat), "suffix range over the size: not the blob's bytes")
	}
	resp0, _ := get("/photos/cat.jpg", "Range", "bytes=-0")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp0.StatusCode, "bytes=-0")
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=0-3,8-11"); assert.Equal(t, http.StatusOK, resp.StatusCode, "multi-range: want the whole blob") {
		assert.Len(t, body, len(cat), "multi-range: want the whole blob")
		assert.True(t, bytes.Equal(body, cat), "multi-range: want the whole blob")
	}
	etag := resp.Header.Get("ETag")
	resp304, _ := get("/photos/cat.jpg", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, resp304.StatusCode, "If-None-Match")
	// 412 and 416 keep Azure's status, never its XML error document.
	resp412, body412 := get("/photos/cat.jpg", "If-Match", `"0x0"`)
	assert.Equal(t, http.StatusPreconditionFailed, resp412.StatusCode, "If-Match mismatch")
	assert.Empty(t, body412, "If-Match mismatch: Azure's error body reached the client")
	resp416, body416 := get("/photos/cat.jpg", "Range", "bytes=999999-")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp416.StatusCode, "unsatisfiable range")
	assert.Empty(t, body416, "unsatisfiable range: Azure's error body reached the client")
	for _, resp := range []*http.Response{resp412, resp416} {
		assert.Empty(t, resp.Header.Get("Content-Type"), "%d: the type of Azure's error document", resp.StatusCode)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "%d", resp.StatusCode)
	}
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "a blob served")
	resp404, _ := get("/photos/missing.jpg")
	assert.Equal(t, http.StatusNotFound, resp404.StatusCode, "missing blob")
	// A path that names no blob, or another container, is refused by the
	// transport itself with a 404 and its reason; no listing is asked for.
	respList, bodyList := get("/photos/?restype=container&comp=list")
	assert.Equal(t, http.StatusNotFound, respList.StatusCode, "a container listing was served")
	assert.NotContains(t, string(bodyList), "EnumerationResults", "a container listing was served")
	assert.Equal(t, "request path names no blob\n", string(bodyList), "a container listing: refused for another reason")
	respOther, bodyOther := get("/other/cat.jpg")
	assert.Equal(t, http.StatusNotFound, respOther.StatusCode, "another container: want 404 (refused by the transport)")
	assert.Equal(t, "request addresses another container than the configured one\n", string(bodyOther), "another container: refused for another reason")

	config := adminGet(t, "/config/")
	assert.NotContains(t, string(config), az.Key[:20], "admin config shows the key")
	assert.Contains(t, string(config), "{env.AZ_TEST_KEY}", "admin config lost the key's placeholder")
}
