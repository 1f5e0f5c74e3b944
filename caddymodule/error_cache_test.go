package caddymodule_test

import (
	"fmt"
	"net/http"
	"path"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestErrorsTellCachesHowLongToKeepThem: a shield or CDN in front keeps a
// 404 for ten seconds and never keeps any other error, whatever a
// site-wide header directive says for blobs; handle_errors can choose
// otherwise. A blob keeps the site's Cache-Control.
func TestErrorsTellCachesHowLongToKeepThem(t *testing.T) {
	azure := newAzureStub(t)
	azure.Put("photos", "cat.jpg", []byte("PURR"), nil)
	azure.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		switch path.Base(r.URL.Path) {
		case "busy":
			w.Header().Set("Retry-After", "30")
			azurestub.WriteError(w, http.StatusServiceUnavailable, "ServerBusy")
		case "broken":
			azurestub.WriteError(w, http.StatusInternalServerError, "InternalError")
		default:
			return false
		}
		return true
	})
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	header Cache-Control "public, max-age=31536000, immutable"
	azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
	}
}

http://127.0.0.1:{$TEST_PORT} {
	azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
	}
	handle_errors 404 {
		header Cache-Control "max-age=300"
		respond "not here"
	}
}`, azure.URL, azure.URL))

	for _, tc := range []struct {
		method, path string
		status       int
		cacheControl string
	}{
		{http.MethodGet, "/cat.jpg", 200, "public, max-age=31536000, immutable"},
		{http.MethodGet, "/missing.jpg", 404, "max-age=10"},
		{http.MethodHead, "/missing.jpg", 404, "max-age=10"},
		{http.MethodGet, "/busy", 503, "no-store"},
		{http.MethodGet, "/broken", 502, "no-store"},
		{http.MethodGet, "/a/%2E%2E/cat.jpg", 400, "no-store"},
		{http.MethodPost, "/cat.jpg", 405, "no-store"},
	} {
		resp, _ := fetch(t, tester, tc.method, tc.path)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.cacheControl, resp.Header.Get("Cache-Control"), "%s %s: Cache-Control", tc.method, tc.path)
		if tc.status == 503 {
			assert.Equal(t, "30", resp.Header.Get("Retry-After"), "503 lost Azure's Retry-After")
		}
	}

	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+testPort+"/missing.jpg", nil)
	assert.NoError(t, err)
	resp := tester.AssertResponseCode(req, http.StatusNotFound)
	assert.Equal(t, "max-age=300", resp.Header.Get("Cache-Control"), "handle_errors chose its own Cache-Control for a 404")
}
