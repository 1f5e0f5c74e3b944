package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler maps a request to a blob of one container and hands it to the
// next handler, which the azure_blob directive makes Caddy's reverse_proxy
// with the azure_blob transport.
//
// The blob name is prefix + the request path without its leading '/' (the
// path as decoded once), after strip_prefix is taken off it. GET and HEAD pass; other methods get 405 with
// Allow: GET, HEAD. Paths that cannot name a blob get 400 (dot segments,
// control characters, backslashes, bad UTF-8, over 1024 characters or 254
// segments) or 404 (a path ending in '/' without an index, or outside
// strip_prefix), before Azure is contacted. The request continues
// with path /container/<escaped name> and no query string.
//
// The azure_blob transport that reads the blob sets the placeholders
// {http.azure_blob.account}, {http.azure_blob.container} and
// {http.azure_blob.blob}.
type Handler struct {
	// Container holds the blobs; required.
	Container string `json:"container,omitempty"`

	// Prefix is prepended to every blob name, e.g. "public/". It may be
	// built per request from placeholders, each a whole segment followed
	// by '/': "users/{http.auth.user.id}/" lets each user read their own
	// blobs only. A request whose placeholder is unknown or empty, or holds
	// a '/' or a dot segment, gets 403; answers under such a prefix are
	// private (Cache-Control), for no cache to hand to another user.
	Prefix string `json:"prefix,omitempty"`

	// Index is the blob served for a path ending in '/', e.g. index.html:
	// /docs/ serves docs/index.html.
	Index string `json:"index,omitempty"`

	// Fallback marks the handler of a fallback origin or of an index probe:
	// it maps the path the request had at the directive's first handler,
	// not the one an earlier origin rewrote.
	Fallback bool `json:"fallback,omitempty"`

	// IndexProbe maps a path without a trailing '/' to its index, path +
	// "/" + index, to learn whether the path is a directory; it sets
	// {http.azure_blob.index_redirect} for the redirect. A path ending in
	// '/' gets 404.
	IndexProbe bool `json:"index_probe,omitempty"`

	// Redirect, when set, answers with a redirect to the blob's URL with a
	// read-only SAS instead of passing the request on to be proxied.
	Redirect *Redirect `json:"redirect,omitempty"`

	// StripPrefix is taken off the request path before it is mapped, e.g.
	// "/images" (ASCII letters in any case). Unlike handle_path and uri
	// strip_prefix it does not clean the path, so blob names with "//" in
	// them keep it. A path outside it gets 404.
	StripPrefix string `json:"strip_prefix,omitempty"`

	// CORS lets pages of the origins it lists read blobs: it answers their
	// preflights, and every answer to them carries the headers that let
	// the page read it, errors and redirects included. The azure_blob
	// directive sets it on its first handler.
	CORS *CORS `json:"cors,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.azure_blob",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Redirect != nil {
		return h.Redirect.provision(ctx, h.Container)
	}
	return nil
}

// Cleanup lets go of what the redirect built: its keyring, metrics and
// connections. It also works after a partial Provision.
func (h *Handler) Cleanup() error {
	if h.Redirect != nil {
		h.Redirect.cleanup()
	}
	return nil
}

// Validate checks the container name and the prefix.
func (h *Handler) Validate() error {
	if err := checkRequiredContainer(h.Container); err != nil {
		return err
	}
	if err := checkPrefixTemplate(h.Prefix); err != nil {
		return err
	}
	if h.Index != "" && (strings.Contains(h.Index, "/") || checkURLSafeBlobName(h.Index) != nil) {
		return errors.New("index must be a blob name without '/'")
	}
	if h.IndexProbe && h.Index == "" {
		return errors.New("index_probe needs index")
	}
	if err := checkStripPrefix(h.StripPrefix); err != nil {
		return err
	}
	return h.CORS.validate(blobCORS)
}

// ServeHTTP maps r to its blob and calls next. An error it or the rest of
// the chain returns gets the Cache-Control a shield should keep it with.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.CORS.serve(w, r, blobCORS) {
		return nil
	}
	err := h.serve(w, r, next)
	if err != nil {
		setErrorCacheControl(w.Header(), err, prefixPerRequest(h.Prefix))
	}
	return err
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("only GET and HEAD read blobs"))
	}
	requestPath := r.URL.Path
	if first, ok := caddyhttp.GetVar(r.Context(), varRequestPath).(string); ok && h.Fallback {
		requestPath = first // an earlier origin of this directive rewrote r.URL.Path
	} else {
		// The first origin of a directive: later ones map what it saw, even
		// when an earlier directive (before handle_errors, say) saw another.
		caddyhttp.SetVar(r.Context(), varRequestPath, requestPath)
	}
	path, ok := stripPathPrefix(requestPath, h.StripPrefix)
	if !ok {
		return caddyhttp.Error(http.StatusNotFound, errors.New("request path is outside strip_prefix"))
	}
	switch {
	case h.IndexProbe && strings.HasSuffix(path, "/"):
		return caddyhttp.Error(http.StatusNotFound, errNoBlobName)
	case h.IndexProbe:
		path += "/" + h.Index
	case h.Index != "" && strings.HasSuffix(path, "/"):
		path += h.Index
	}
	caddyhttp.SetVar(r.Context(), varFallback, h.Fallback && !h.IndexProbe)
	prefix, err := resolvePrefix(r, h.Prefix)
	if err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	name, err := blobName(prefix, path)
	switch {
	case err != nil && h.IndexProbe:
		// The path itself was a valid name (the origins before the probe
		// mapped it); with the index added it is too long or too deep, so
		// no such directory can exist.
		return caddyhttp.Error(http.StatusNotFound, err)
	case errors.Is(err, errNoBlobName):
		return caddyhttp.Error(http.StatusNotFound, err)
	case err != nil:
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	if c := h.logger.Check(zapcore.DebugLevel, "mapped request to blob"); c != nil {
		c.Write(zap.String("path", r.URL.Path), zap.String("container", h.Container), zap.String("blob", name))
	}
	// The placeholders are set by the reader, for the origin it reads.
	mapped := mappedBlob{container: h.Container, name: name, private: prefixPerRequest(h.Prefix), configured: true}
	if rd := h.Redirect; rd != nil {
		return h.serveRedirect(w, r, next, rd, mapped)
	}
	if h.IndexProbe {
		h.setIndexRedirect(r)
	}
	caddyhttp.SetVar(r.Context(), varMapping, mapping{private: mapped.private})
	r.URL.Path, r.URL.RawPath = sas.BlobEndpoint{}.BlobPath(h.Container, name)
	r.URL.RawQuery, r.URL.ForceQuery = "", false
	return next.ServeHTTP(w, r)
}

// serveRedirect answers with a redirect to the mapped blob, after asking
// Azure whether it exists where another handler could serve the request
// instead. An index probe that finds the directory's index sends the
// client to the path with its '/' (308), which the next request maps.
func (h *Handler) serveRedirect(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rd *Redirect, mapped mappedBlob) error {
	var found http.Header
	if rd.Probe || h.IndexProbe {
		var err error
		switch found, err = rd.exists(w, r, mapped); {
		case err != nil:
			return err
		case found == nil:
			return next.ServeHTTP(w, r)
		}
	}
	if h.IndexProbe {
		w.Header().Set("Location", indexRedirectTarget(r))
		if mapped.private {
			w.Header().Set("Cache-Control", "private")
		}
		w.WriteHeader(http.StatusPermanentRedirect)
		return nil
	}
	return rd.redirect(w, r, mapped, found)
}

// checkRequiredContainer checks the container option of a handler, which
// serves one container.
func checkRequiredContainer(name string) error {
	if name == "" {
		return errors.New("container: required")
	}
	if err := sas.CheckContainerName(name); err != nil {
		return fmt.Errorf("container: %w", err)
	}
	return nil
}

// Request variables shared by the handlers of one azure_blob directive.
const (
	varRequestPath = "azure_blob.request_path" // r.URL.Path at the first handler
	varFallback    = "azure_blob.fallback"     // a fallback origin is asked
)

// setIndexRedirect sets {http.azure_blob.index_redirect} to
// indexRedirectTarget, for the route that answers an index probe.
func (h *Handler) setIndexRedirect(r *http.Request) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.azure_blob.index_redirect", indexRedirectTarget(r))
	}
}

// indexRedirectTarget is where a directory path without its '/' is sent,
// relative to it ("./name/"), so it can never point at another host or
// scheme. The client's query is left out: azure_blob drops it anyway, and
// a cache that keeps the 308 by path alone (a CDN told to ignore query
// strings) would otherwise hand one visitor's query to every other.
func indexRedirectTarget(r *http.Request) string {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok {
		orig = *r
	}
	escaped := orig.URL.EscapedPath()
	return "./" + escaped[strings.LastIndexByte(escaped, '/')+1:] + "/"
}

// checkStripPrefix refuses a strip_prefix that is no path prefix.
func checkStripPrefix(prefix string) error {
	if prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "*")) {
		return errors.New("strip_prefix must be a path starting with / and without *")
	}
	return nil
}

// stripPathPrefix takes prefix (any trailing '/' aside) off path. ASCII
// letters match without regard to case, as in Caddy's path matcher; other
// characters must match exactly (no Unicode folding, which can change a
// string's length). What is left must be empty or start with '/'.
func stripPathPrefix(path, prefix string) (string, bool) {
	prefix = strings.TrimRight(prefix, "/")
	if len(path) < len(prefix) || !equalFoldASCII(path[:len(prefix)], prefix) {
		return "", false
	}
	rest := path[len(prefix):]
	if rest == "" {
		return "/", true
	}
	if !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}

// equalFoldASCII is strings.EqualFold for A-Z only.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
