package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestClientMistakesDoNotTakeAzureOutOfRotation: in a reverse_proxy of the
// user's own with passive health checks, a request the transport refuses
// (a wrong method, another container, no blob name, a dot segment, a
// control character) is the client's mistake. It gets its status (405
// with Allow, 404, 400) and Azure stays healthy: the next good request is
// served. Were the refusal an error, one bad request would mark Azure down
// for fail_duration, for every client.
func TestClientMistakesDoNotTakeAzureOutOfRotation(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	cat := bytes.Repeat([]byte("PURR"), 256)
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	reverse_proxy 127.0.0.1:%d {
		fail_duration 30s
		max_fails 1
		transport azure_blob {
			endpoint %s
			container photos
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, az.Port, az.Endpoint))

	for _, bad := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/photos/cat.jpg", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/photos/cat.jpg", http.StatusMethodNotAllowed},
		{http.MethodGet, "/other/cat.jpg", http.StatusNotFound},
		{http.MethodGet, "/$logs/x.log", http.StatusNotFound},
		{http.MethodGet, "/photos/", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/photos/a/%2E%2E/cat.jpg", http.StatusBadRequest},
		{http.MethodGet, "/photos/a%00b.jpg", http.StatusBadRequest},
		{http.MethodHead, "/photos/a%C2%85b.jpg", http.StatusBadRequest},
	} {
		resp, body := fetch(t, tester, bad.method, bad.path)
		assert.Equal(t, bad.status, resp.StatusCode, "%s %s", bad.method, bad.path)
		if bad.status == http.StatusMethodNotAllowed {
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), "%s %s", bad.method, bad.path)
		}
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "%s %s", bad.method, bad.path)
		wantCacheControl := "no-store"
		if bad.status == http.StatusNotFound {
			wantCacheControl = "max-age=10"
		}
		assert.Equal(t, wantCacheControl, resp.Header.Get("Cache-Control"), "%s %s: how long a cache keeps the refusal", bad.method, bad.path)
		assert.NotContains(t, string(body), "sig=", "%s %s", bad.method, bad.path)

		resp, body = fetch(t, tester, http.MethodGet, "/photos/cat.jpg")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "a good request after %s %s", bad.method, bad.path)
		assert.True(t, bytes.Equal(cat, body), "a good request after %s %s: %d bytes", bad.method, bad.path, len(body))
	}

	upstreams := adminGet(t, "/reverse_proxy/upstreams")
	var hosts []struct {
		Address string `json:"address"`
		Fails   int    `json:"fails"`
	}
	require.NoError(t, json.Unmarshal(upstreams, &hosts))
	address := fmt.Sprintf("127.0.0.1:%d", az.Port)
	found := false
	for _, h := range hosts {
		if h.Address == address {
			found = true
			assert.Zero(t, h.Fails, "failures counted against Azure after the client's mistakes")
		}
	}
	assert.True(t, found, "Azure's address is not among the upstreams: %s", upstreams)
}
