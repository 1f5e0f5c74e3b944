package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestRedirectCacheControlEndsBeforeTheTokenIsRenewed: whatever a cache
// does with max-age, whoever follows the redirect it kept still has the
// token's renewal window to use it; a token about to be renewed, or one a
// stored policy may revoke, is not cached at all.
func TestRedirectCacheControlEndsBeforeTheTokenIsRenewed(t *testing.T) {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tokenUntil := func(expiry time.Time) sas.Token {
		tok, err := (&sas.ServiceValues{Permissions: sas.PermRead, Container: "photos", Blob: "a.jpg", Expiry: expiry}).Sign(key)
		require.NoError(t, err)
		return tok
	}
	tr := &Redirect{Origin: &ReadOrigin{TTL: caddy.Duration(time.Hour)}} // renew_before defaults to 15m
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{time.Hour, "max-age=2700, must-revalidate"},
		{30 * time.Minute, "max-age=900, must-revalidate"},
		{15*time.Minute + 1500*time.Millisecond, "max-age=1, must-revalidate"},
		{15 * time.Minute, "no-store"},
		{time.Minute, "no-store"},
	} {
		assert.Equal(t, tc.want, tr.cacheControl(tokenUntil(now.Add(tc.left)), now), "a token with %s left", tc.left)
	}
	short := &Redirect{Origin: &ReadOrigin{TTL: caddy.Duration(4 * time.Second), RenewBefore: caddy.Duration(time.Second)}}
	assert.Equal(t, "max-age=3, must-revalidate", short.cacheControl(tokenUntil(now.Add(4*time.Second)), now), "ttl 4s, renew_before 1s")

	policy, err := sas.Parse("sv=2026-06-06&si=readers&sr=b&sig=yQ9T3X6B26ErGZZjAVRnLQCy0Wl5NIzUqz9suL9a9Vg%3D")
	require.NoError(t, err)
	assert.Equal(t, "no-cache", tr.cacheControl(policy.Token(), now), "a stored policy may revoke the token at any time")
	assert.Equal(t, "max-age=3600", tr.cacheControl(sas.Token{}, now), "anonymous: the plain URL lasts")
	far := tokenUntil(now.Add(90 * 24 * time.Hour)) // a long sas_token
	assert.Equal(t, "max-age=3600, must-revalidate", tr.cacheControl(far, now), "never longer than the ttl")
}

// TestWriteRedirectLeavesNoLocationBehind: the client gets Location; the
// header map that Caddy's access log reads afterwards does not hold it.
func TestWriteRedirectLeavesNoLocationBehind(t *testing.T) {
	w := httptest.NewRecorder()
	require.NoError(t, writeRedirect(w, http.StatusFound, "https://mystorage.blob.core.windows.net/photos/a.jpg?sig=x", "max-age=60"))
	sent := w.Result()
	assert.Equal(t, http.StatusFound, sent.StatusCode)
	assert.Equal(t, "https://mystorage.blob.core.windows.net/photos/a.jpg?sig=x", sent.Header.Get("Location"), "the client's Location")
	assert.Equal(t, "max-age=60", sent.Header.Get("Cache-Control"))
	assert.Equal(t, "Found\n", w.Body.String())
	assert.Empty(t, w.Header().Get("Location"), "Location stayed in the header map")
	assert.Equal(t, "max-age=60", w.Header().Get("Cache-Control"), "the rest stays")
}

// TestRedirectToARequestWithCredentialsIsPrivate: a shared cache may reuse
// an answer to a request with Authorization that says must-revalidate
// (RFC 9111, 3.5), and may keep one to a request with a Cookie, so such
// answers are private; others stay cacheable by a CDN.
func TestRedirectToARequestWithCredentialsIsPrivate(t *testing.T) {
	for _, tc := range []struct{ cacheControl, want string }{
		{"max-age=2700, must-revalidate", "private, max-age=2700, must-revalidate"},
		{"max-age=3600", "private, max-age=3600"},
		{"no-cache", "private, no-cache"},
		{"no-store", "no-store"},
		{"public, max-age=60, s-maxage=600, immutable", "private, max-age=60, immutable"},
		{"max-age=10", "private, max-age=10"},
		{"", "private"},
	} {
		assert.Equal(t, tc.want, privately(tc.cacheControl), "privately(%q)", tc.cacheControl)
	}
	for _, tc := range []struct {
		header, value string
		want          bool
	}{
		{"Authorization", "Basic YWxpY2U6c2VjcmV0", true},
		{"Cookie", "session=abc", true},
		{"Accept", "image/*", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/dl/a.jpg", nil)
		r.Header.Set(tc.header, tc.value)
		assert.Equal(t, tc.want, carriesCredentials(r), "a request with %s", tc.header)
	}
}
