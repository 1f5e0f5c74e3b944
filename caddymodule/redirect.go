package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Redirect makes the azure_blob handler answer a GET or HEAD for a blob
// with a redirect to the blob's URL carrying a read-only SAS, instead of
// passing the request on to be proxied: the client then reads the bytes
// from Azure. The token comes from the redirect's cache, so a blob's URL
// stays the same for the token's life and a browser or CDN may cache the
// redirect; its Cache-Control never lets a cache keep it past the point
// where the token is renewed.
//
// The token appears in Location and nowhere else: once the redirect has
// gone out, Location is taken out of the response's header map, so that
// Caddy's access log, which records the response headers after the
// handlers return, and {http.response.header.Location} never show it. A
// handler in front that holds back the whole response until the end
// (templates, an in-process cache) would therefore send the redirect
// without Location: put azure_blob redirect routes outside such handlers.
type Redirect struct {
	// StatusCode is 302 (default), 303 or 307. A permanent redirect would
	// be kept by caches after its token has expired, so 301 and 308 are
	// refused.
	StatusCode int `json:"status_code,omitempty"`

	// Endpoint is where clients are sent, when a CDN or a custom storage
	// domain stands in front of the account: the blob's path and token are
	// appended to it. The token is signed for the account either way.
	// Default: the account's blob endpoint.
	Endpoint string `json:"endpoint,omitempty"`

	// Probe asks Azure with a signed HEAD whether the blob exists before
	// redirecting to it, and passes the request on to the next handler when
	// it does not (a fallback origin, an index probe). The azure_blob
	// directive sets it where another origin or an index probe follows;
	// without it the redirect is sent without asking Azure anything.
	Probe bool `json:"probe,omitempty"`

	// Origin is what signs the URLs and where the probes go: its account,
	// credential, ttl, renew_before, scope, policy, header overrides and
	// user_content apply. Its container, when it gives one, is the
	// handler's.
	Origin *ReadOrigin `json:"origin,omitempty"`

	// Connection holds the http transport options of the probes, and of
	// an identity's key requests: timeouts, TLS trust, proxy.
	Connection *reverseproxy.HTTPTransport `json:"connection,omitempty"`

	reader   *reader          // signs the URLs, sends the probes: one token cache for both
	endpoint sas.BlobEndpoint // where clients are sent
}

// validate checks what needs no transport, the status and the endpoint,
// and returns the endpoint (zero when none is given).
func (rd *Redirect) validate() (sas.BlobEndpoint, error) {
	switch rd.StatusCode {
	case 0, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect:
	default:
		return sas.BlobEndpoint{}, errors.New("redirect: the status must be 302, 303 or 307: a permanent redirect outlives its token in caches")
	}
	if rd.Endpoint == "" {
		return sas.BlobEndpoint{}, nil
	}
	loc, err := locate(sas.Where{Endpoint: rd.Endpoint}, settingNames{"account", "redirect_endpoint", "connection_string"})
	if err != nil {
		return sas.BlobEndpoint{}, err
	}
	if !devAccountEndpoint(loc.Endpoint) {
		if err := checkClientEndpoint("redirect_endpoint", loc.Endpoint, nil); err != nil {
			return sas.BlobEndpoint{}, err
		}
	}
	return loc.Endpoint, nil
}

// provision builds the redirect's reader and works out where clients are
// sent.
func (rd *Redirect) provision(ctx caddy.Context, container string) error {
	endpoint, err := rd.validate()
	if err != nil {
		return err
	}
	if rd.StatusCode == 0 {
		rd.StatusCode = http.StatusFound
	}
	if rd.Origin == nil {
		return errors.New("redirect: no origin to sign for")
	}
	return rd.Origin.where(rd.build(ctx, endpoint, container))
}

// build checks that the origin can sign the handler's redirects to
// endpoint (zero for the origin's own), then builds its reader.
func (rd *Redirect) build(ctx caddy.Context, endpoint sas.BlobEndpoint, container string) error {
	ro := rd.Origin
	if ro.Container != "" && ro.Container != container {
		return errors.New("redirect: the origin's container differs from the handler's")
	}
	ro.setDefaults()
	if err := ro.validate(); err != nil {
		return err
	}
	if err := checkHTTPTransport(rd.Connection); err != nil {
		return err
	}
	if err := checkRedirectOptions(ro); err != nil {
		return err
	}
	if ro.UserContent && !rd.Probe {
		// The type to sign is the stored one, which only a HEAD tells.
		return errors.New("redirect: user_content needs probe, which asks Azure for each blob's type (the azure_blob directive sets it)")
	}
	r, err := newReader(ctx, *ro, rd.Connection, ctx.Logger())
	if err != nil {
		return err
	}
	rd.reader = r
	if r.auth.token != nil {
		return errRedirectReadyMadeToken
	}
	if endpoint.Scheme == "http" && r.auth.endpoint.Scheme == "https" {
		return errors.New("redirect_endpoint is http, but tokens for an https endpoint are signed for https only (spr=https)")
	}
	if named := endpoint.HostAccount(); named != "" && named != r.auth.account {
		return fmt.Errorf("redirect_endpoint names the storage account %q, not %q whose tokens it would be handed: "+
			"clients would carry them to another account's host", named, r.auth.account)
	}
	rd.endpoint = endpoint
	if endpoint.IsZero() {
		rd.endpoint = r.auth.endpoint
	}
	return checkClientEndpoint("redirect", rd.endpoint, r.auth.key)
}

// cleanup lets go of the reader, when provision built one.
func (rd *Redirect) cleanup() {
	if rd.reader != nil {
		rd.reader.cleanup()
	}
}

// errRedirectReadyMadeToken: a redirect would hand a ready-made token to
// every client.
var errRedirectReadyMadeToken = errors.New("redirect: a ready-made token (sas_token, or a connection string's SharedAccessSignature) " +
	"would be handed to every client and reads more than one blob: sign per blob with account_key, a connection string with AccountKey, or identity")

// checkRedirectOptions refuses an origin whose tokens would give the
// clients they are handed to more than reading the one blob: a token that
// names a stored policy (its permissions are the policy's), one for the
// whole container, or a ready-made token (a sas_token, or a connection
// string's SharedAccessSignature, which build finds), which is the same
// for every blob and reaches at least the container. In proxying, Caddy
// itself only ever reads; in a redirect, the client holds the token. The
// directive checks it when the Caddyfile is adapted.
func checkRedirectOptions(t *ReadOrigin) error {
	switch {
	case t.SASToken != "":
		return errRedirectReadyMadeToken
	case t.Policy != "":
		return errors.New("redirect: policy would hand clients whatever the stored policy grants: sign read-only tokens without it")
	case t.Scope == scopeContainer:
		return errors.New("redirect: scope container would hand clients a token for every blob of the container")
	case t.GuessContentType:
		return errors.New("redirect: guess_content_type cannot change what Azure sends; sign content_type instead")
	case t.UserContent && t.Anonymous:
		return errors.New("redirect: user_content signs each blob's type and disposition into its URL, and anonymous has nothing to sign with")
	}
	return nil
}

// exists asks Azure, with a signed HEAD, whether the mapped blob exists,
// and returns the headers a proxied read of it gets (user_content's among
// them). An answer other than found or not found is an error for the
// client: 503 with Azure's Retry-After when Azure is busy, else 502, a
// missing container included (the reader answers it 502, and logs it).
func (rd *Redirect) exists(w http.ResponseWriter, r *http.Request, m mappedBlob) (http.Header, error) {
	service := rd.reader.auth.endpoint
	probe := r.Clone(r.Context())
	probe.Method, probe.Header, probe.Body, probe.ContentLength = http.MethodHead, http.Header{}, nil, 0
	probe.URL = &url.URL{Scheme: service.Scheme, Host: service.HostPort()} // read adds the blob's path
	resp, err := rd.reader.read(probe, m)
	if err != nil {
		return nil, caddyhttp.Error(http.StatusBadGateway, err)
	}
	drain(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return nil, nil
	case code < 300 || code == http.StatusNotModified:
		return resp.Header, nil
	case code == http.StatusServiceUnavailable:
		if after := resp.Header.Get("Retry-After"); after != "" {
			w.Header().Set("Retry-After", after)
		}
		return nil, caddyhttp.Error(code, errors.New("the storage origin is busy"))
	}
	return nil, caddyhttp.Error(http.StatusBadGateway, errors.New("the storage origin refused the request"))
}

// redirect sends the client to the mapped blob's URL with a read-only
// token. For user_content, the token carries the headers a proxied read
// would serve the blob with (found, the probe's answer), since Azure
// sends the bytes.
func (rd *Redirect) redirect(w http.ResponseWriter, r *http.Request, m mappedBlob, found http.Header) error {
	t := rd.reader
	var token sas.Token
	var err error
	if t.UserContent {
		token, err = t.reads.tokenWithHeaders(m.container, m.name, sas.ResponseHeaders{
			ContentType: found.Get("Content-Type"), ContentDisposition: found.Get("Content-Disposition"), CacheControl: found.Get("Cache-Control")})
	} else {
		token, err = t.reads.token(m.container, m.name)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("signing: %w", err))
	}
	t.counters.redirects.Add(1)
	cacheControl := rd.cacheControl(token, time.Now())
	if carriesCredentials(r) || m.private {
		cacheControl = privately(cacheControl)
	}
	err = writeRedirect(w, rd.StatusCode, rd.endpoint.URL(m.container, m.name, token), cacheControl)
	if errors.Is(err, errFlush) {
		t.logger.Warn(err.Error())
		return nil
	}
	return err
}

// cacheControl lets a cache keep a redirect with token until the
// token enters its renewal window (renew_before, ttl/4 by default, before
// its expiry): whoever follows a cached redirect still has that long to
// use it, and then gets a fresh one; must-revalidate keeps caches from
// serving it stale (stale-if-error) after that. A shared cache may keep it
// (a CDN in front of an open route); an answer to a request with
// credentials is made private (privately).
func (rd *Redirect) cacheControl(token sas.Token, now time.Time) string {
	ttl := time.Duration(rd.Origin.TTL)
	expiry := token.Expiry()
	switch {
	case token.IsZero(): // anonymous: the plain URL does not expire
		return "max-age=" + strconv.Itoa(int(ttl/time.Second))
	case expiry.IsZero(): // a stored policy holds the expiry, and may be revoked at any time
		return "no-cache"
	}
	renew := time.Duration(rd.Origin.RenewBefore)
	if renew == 0 {
		renew = ttl / 4
	}
	left := min(expiry.Sub(now)-renew, ttl)
	if left < time.Second {
		return "no-store"
	}
	return "max-age=" + strconv.Itoa(int(left/time.Second)) + ", must-revalidate"
}

// carriesCredentials reports whether r came with credentials: an
// Authorization or Cookie header, or a client certificate.
func carriesCredentials(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" ||
		(r.TLS != nil && len(r.TLS.PeerCertificates) > 0)
}

// writeRedirect sends a redirect to location, then takes Location out of
// the header map: it carries a token, and Caddy's access log records the
// response headers after the handlers return. The headers leave with the
// first byte of the body, which is why there is one, flushed before
// Location is removed. Where a writer in front cannot flush, Location
// stays: a redirect without it would be broken, and errFlush says so.
func writeRedirect(w http.ResponseWriter, status int, location, cacheControl string) error {
	body := http.StatusText(status) + "\n"
	h := w.Header()
	h.Set("Location", location)
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return errFlush
	}
	h.Del("Location")
	return nil
}

// errFlush: the redirect went out, but its Location is still in the header
// map, for Caddy's access log to see.
var errFlush = errors.New("the response writer cannot flush, so Location (with its token) stays where Caddy's access log can read it")
