package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveHandler runs h on a request for target as Caddy would hand it over
// (replacer, vars, original request), and returns the path the next
// handler got, the status of an error, and the replacer.
func serveHandler(t *testing.T, h *Handler, method, target string, vars map[string]any) (string, int, *caddy.Replacer) {
	t.Helper()
	h.logger = zap.NewNop()
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	if vars == nil {
		vars = make(map[string]any)
	}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, vars)
	ctx = context.WithValue(ctx, caddyhttp.OriginalRequestCtxKey, *r.Clone(ctx))
	r = r.WithContext(ctx)
	var got string
	err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		got = r.URL.EscapedPath()
		return nil
	}))
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return got, he.StatusCode, repl
	}
	require.NoError(t, err)
	return got, 0, repl
}

func TestHandlerMapsIndexAndFallbacks(t *testing.T) {
	site := Handler{Container: "site", StripPrefix: "/s", Index: "index.html"}
	for _, tt := range []struct {
		name         string
		h            Handler
		target       string
		vars         map[string]any
		want         string
		status       int
		redirect     string
		markFallback bool
	}{
		{"plain", site, "/s/a.css", nil, "/site/a.css", 0, "", false},
		{"index at the root", site, "/s/", nil, "/site/index.html", 0, "", false},
		{"index in a folder", site, "/s/my%20docs/", nil, "/site/my%20docs/index.html", 0, "", false},
		{"no index: a folder is 404", Handler{Container: "site"}, "/docs/", nil, "", 404, "", false},
		{"probe", Handler{Container: "site", StripPrefix: "/s", Index: "index.html", IndexProbe: true, Fallback: true},
			"/s/my%20docs?x=1", nil, "/site/my%20docs/index.html", 0, "./my%20docs/", false},
		{"probe of a folder path is 404", Handler{Container: "site", Index: "index.html", IndexProbe: true, Fallback: true}, "/docs/", nil, "", 404, "", false},
		{"a redirect never names a scheme", Handler{Container: "site", Index: "index.html", IndexProbe: true, Fallback: true},
			"/javascript:alert(1)", nil, "/site/javascript:alert%281%29/index.html", 0, "./javascript:alert(1)/", false},
		{"a redirect never names a host", Handler{Container: "site", Index: "index.html", IndexProbe: true, Fallback: true},
			"//evil.example", nil, "/site//evil.example/index.html", 0, "./evil.example/", false},
		{"a fallback maps the first handler's path", Handler{Container: "archive", Prefix: "old/", Fallback: true},
			"/site/x.jpg", map[string]any{varRequestPath: "/x.jpg"}, "/archive/old/x.jpg", 0, "", true},
		{"the first handler ignores an earlier path", Handler{Container: "media"},
			"/y.jpg", map[string]any{varRequestPath: "/x.jpg", varFallback: true}, "/media/y.jpg", 0, "", false},
	} {
		earlierPath := tt.vars[varRequestPath]
		got, status, repl := serveHandler(t, &tt.h, http.MethodGet, tt.target, tt.vars)
		assert.Equal(t, tt.want, got, "%s: the path next got", tt.name)
		assert.Equal(t, tt.status, status, "%s: status", tt.name)
		redirect, set := repl.GetString("http.azure_blob.index_redirect")
		assert.Equal(t, tt.redirect, redirect, "%s: redirect", tt.name)
		assert.Equal(t, tt.redirect != "", set, "%s: redirect placeholder set", tt.name)
		if tt.vars == nil {
			continue
		}
		// The handler sets the variable to a bool either way, and a later
		// origin reads it.
		assert.Equal(t, tt.markFallback, tt.vars[varFallback], "%s: fallback var", tt.name)
		if tt.h.Fallback {
			assert.Equal(t, earlierPath, tt.vars[varRequestPath], "%s: a fallback changed the first handler's request path", tt.name)
		} else {
			assert.Equal(t, tt.target, tt.vars[varRequestPath], "%s: a first handler left the request path elsewhere, not where the origins after it need it", tt.name)
		}
	}
}
