package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2"
)

// TestResolvePrefixKeepsEachUserInTheirOwn: a user id resolves the prefix
// only when it is one whole segment that names no other: no '/', no dot
// segment, no trailing dot (which a service trimming it would read as
// another user's), not empty, not unknown.
func TestResolvePrefixKeepsEachUserInTheirOwn(t *testing.T) {
	const template = "users/{http.auth.user.id}/"
	require.NoError(t, checkPrefixTemplate(template))
	for id, want := range map[string]string{
		"alice":     "users/alice/",
		"bob.smith": "users/bob.smith/",
		"bob.":      "",
		".":         "",
		"..":        "",
		"a/b":       "",
		"a\\b":      "",
		"":          "",
		"{x}":       "users/{x}/", // a value is not expanded again
	} {
		r := httptest.NewRequest("GET", "/", nil)
		repl := caddy.NewReplacer()
		repl.Set("http.auth.user.id", id)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		got, err := resolvePrefix(r, template)
		if want == "" {
			assert.ErrorIs(t, err, errPrefixUnresolved, "user id %q", id)
			continue
		}
		if assert.NoError(t, err, "user id %q", id) {
			assert.Equal(t, want, got, "user id %q", id)
		}
	}
	_, err := resolvePrefix(httptest.NewRequest("GET", "/", nil), template)
	assert.ErrorIs(t, err, errPrefixUnresolved, "a request without a replacer")
	assert.EqualError(t, checkPrefixTemplate("v1./{http.auth.user.id}/"), "prefix: a segment of a prefix with placeholders may not end in '.'")
}
