package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Log messages for a 401 or 403 from Azure: a token given in the config,
// and a token signed afresh after a first refusal.
const (
	logRefused         = "Azure refused the request's authorization"
	logRefusedResigned = "Azure refused a freshly signed token: the account key is not one it accepts (rotated or wrong), or a stored policy or the clock is off"
	logRefusedPolicy   = "Azure refused a freshly signed token that names a stored access policy: the policy was removed or changed (revoked), or it does not grant read, or it sets an expiry of its own"
)

// reader reads the blobs of one ReadOrigin for the module that holds it
// (the azure_blob transport, a redirect): its authority, its read tokens
// and their cache, the http transport that reaches Azure, and its counts.
// Each module builds its own with newReader; none reads another's.
type reader struct {
	ReadOrigin // the options, with their defaults
	sender     // the connection to Azure, and the logger

	auth  *authority // what signs, and where the blobs are
	reads credential // how reads are authorized: the read tokens and their cache
	// plainToLoopbackOnly: the endpoint is plain http, taken because it
	// is on loopback, so the upstream reverse_proxy dials must be too.
	plainToLoopbackOnly bool
	expiryTimers        []*time.Timer
	counters            transportCounters
	metricsRegistry     *prometheus.Registry
}

// newReader builds the reader of ro, whose defaults are set and which is
// valid, reaching Azure through conn, a configured http transport that it
// provisions (a new one when nil). It warns of what the configuration
// risks, and registers the reader's metrics last: the collector reads it
// from the moment it is registered. On error it lets go of what it built.
func newReader(ctx caddy.Context, ro ReadOrigin, conn *reverseproxy.HTTPTransport, logger *zap.Logger) (_ *reader, err error) {
	r := &reader{ReadOrigin: ro, sender: sender{logger: logger}}
	defer func() {
		if err != nil {
			r.cleanup()
		}
	}()
	if r.auth, err = newAuthority(&ro.Origin); err != nil {
		return nil, err
	}
	if r.reads, err = ro.readCredential(r.auth); err != nil {
		return nil, err
	}
	r.plainToLoopbackOnly = r.auth.endpoint.Scheme == "http" && !ro.InsecureHTTP && !r.auth.key.IsDevelopmentKey()
	if tok := r.auth.token; tok != nil {
		if !tok.ReadOnly() {
			logger.Warn("sas_token grants more than read and list; a read-only token is enough",
				zap.String("permissions", tok.PermissionString()))
		}
		r.warnBeforeExpiry(tok.Expiry)
	}
	ro.warnLiteralSecret(logger)
	if r.conn, err = r.auth.connect(ctx, conn, logger); err != nil {
		return nil, err
	}
	if err := registerMetrics(ctx.GetMetricsRegistry(), r); err != nil {
		return nil, fmt.Errorf("metrics: %v", err)
	}
	return r, nil
}

// warnBeforeExpiry logs a day, an hour and a minute before a sas_token
// expires, and when it has: after that Azure refuses every request.
func (r *reader) warnBeforeExpiry(expiry time.Time) {
	if expiry.IsZero() {
		return // a stored policy holds the expiry
	}
	for _, before := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, 0} {
		wait := time.Until(expiry.Add(-before))
		if wait <= 0 && before > 0 {
			continue
		}
		level, msg := zapcore.WarnLevel, "sas_token expires soon; replace it and reload"
		if before == 0 {
			level, msg = zapcore.ErrorLevel, "sas_token has expired; Azure refuses every request until it is replaced"
		}
		r.expiryTimers = append(r.expiryTimers, time.AfterFunc(max(wait, 0), func() {
			r.logger.Check(level, msg).Write(logTime("expiry", expiry))
		}))
	}
}

// cleanup stops the expiry warnings, lets go of the keyring and the
// metrics, and closes the idle connections; it also works on a partly
// built reader.
func (r *reader) cleanup() {
	unregisterMetrics(r)
	r.auth.release()
	for _, timer := range r.expiryTimers {
		timer.Stop()
	}
	if r.conn != nil {
		_ = r.conn.Cleanup()
	}
}

// answerContainerNotFound turns Azure's 404 ContainerNotFound for a read in
// container into a 502 that no cache keeps, which the azure_blob
// directive's response routes and its redirect probes take as an error,
// and logs it (paced).
func (r *reader) answerContainerNotFound(resp *http.Response, container string) {
	resp.StatusCode, resp.Status = http.StatusBadGateway, "502 Bad Gateway"
	resp.Header.Set("Cache-Control", errorNoStore)
	r.logContainerNotFound(container)
}

// logContainerNotFound logs that container is missing, a few times a
// minute at most.
func (r *reader) logContainerNotFound(container string) {
	if r.counters.containerNotFoundLogged.allow(time.Now(), containerNotFoundLogEvery) {
		r.logger.Error(logContainerNotFound,
			zap.String("account", r.auth.account),
			zap.String("container", container))
	}
}

// read sends req, a GET or HEAD of the blob mapped, to Azure on a signed
// clone, and returns Azure's answer made fit for a client: Azure's headers
// and error bodies taken out, the route's header rules applied. Azure's
// 404 for a configured container that does not exist comes back as a 502
// (see answerContainerNotFound).
func (r *reader) read(req *http.Request, mapped mappedBlob) (*http.Response, error) {
	container, blob := mapped.container, mapped.name
	if fallback, _ := caddyhttp.GetVar(req.Context(), varFallback).(bool); fallback {
		r.counters.fallbacks.Add(1)
	}
	if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.azure_blob.account", r.auth.account)
		repl.Set("http.azure_blob.container", container)
		repl.Set("http.azure_blob.blob", blob)
	}
	if r.plainToLoopbackOnly && (sas.BlobEndpoint{Scheme: "http", Host: req.URL.Host}).Insecure() {
		// A reverse_proxy of the user's own may dial another host than
		// the endpoint the plain-http rule took.
		return nil, errPlainUpstream
	}
	up := r.upstreamRequest(req, mapped)
	clientIfMatch := up.Header.Values("If-Match")
	pinned, err := r.resolveSuffixRange(up, container, blob)
	if err != nil {
		return nil, err
	}
	resp, resigned, err := r.sendHealing(up, container, blob)
	if err == nil && pinned && resp.StatusCode == http.StatusPreconditionFailed {
		// The blob changed between the HEAD that sized the suffix range and
		// this GET, so the offsets are stale: serve the whole blob under the
		// client's own conditions (RFC 9110 lets a server ignore Range).
		drain(resp)
		up.Header.Del("Range")
		up.Header.Del("If-Match")
		for _, v := range clientIfMatch {
			up.Header.Add("If-Match", v)
		}
		resp, resigned, err = r.sendHealing(up, container, blob)
	}
	if err != nil {
		return nil, err
	}
	// A container the configuration names (the transport's, or the one
	// the handler mapped to) is missing: a mistake to fix, not a missing
	// blob. One a client's path named is the client's miss, and stays a
	// 404 that neither logs nor counts against the upstream's health.
	if isContainerNotFound(resp) && (r.Container != "" || mapped.configured) {
		r.answerContainerNotFound(resp, container)
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		r.counters.authFailures.Add(1)
		msg := logRefused
		switch {
		case resigned && r.Policy != "":
			msg = logRefusedPolicy
		case resigned:
			msg = logRefusedResigned
		}
		r.logger.Error(msg,
			zap.String("container", container),
			zap.String("policy", r.Policy),
			zap.Int("status", resp.StatusCode),
			zap.String("azure_error_code", resp.Header.Get("x-ms-error-code")))
	}
	stripAzureHeaders(resp.Header)
	dropErrorBody(resp)
	// RFC 9111 (4.3.4): a 304 carries the Cache-Control a 200 would. Azure
	// does not repeat the signed rscc on it, and a shield would keep the
	// object it refreshes for its own default TTL (Varnish: two minutes).
	if resp.StatusCode == http.StatusNotModified && r.CacheControl != "" {
		resp.Header.Set("Cache-Control", r.CacheControl)
	}
	if r.GuessContentType && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		guessContentType(resp.Header, blob)
	}
	if r.UserContent {
		serveAsUserContent(r.HeaderOverrides, resp.StatusCode, resp.Header)
	}
	if mapped.private {
		resp.Header.Set("Cache-Control", privately(resp.Header.Get("Cache-Control")))
	}
	// A blob is data, never a page or script the browser should guess
	// from its bytes; an upload of HTML under image/png stays an image.
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	// The signed clone stays here: handle_response routes and other
	// modules that read resp.Request see the client's request, no token.
	resp.Request = req
	return resp, nil
}

// sendHealing sends up, a read of blob in container, authorized by r's
// read tokens: see sendHealingAs.
func (r *reader) sendHealing(up *http.Request, container, blob string) (resp *http.Response, resigned bool, err error) {
	return r.sendHealingAs(r.reads, up, container, blob, "")
}

// sender signs requests to Azure with a credential and sends them through
// conn, a provisioned http transport; it logs each at debug level, without
// its token.
type sender struct {
	conn   *reverseproxy.HTTPTransport
	logger *zap.Logger
}

// sendHealingAs sends up, with params (an encoded query, or "") and cred's
// token for container and blob, and once more with a fresh token if Azure
// answers 403: a rotated key, a revoked policy, a clock step. resigned
// reports the second try. A request with a body needs GetBody to go again.
func (r sender) sendHealingAs(cred credential, up *http.Request, container, blob, params string) (resp *http.Response, resigned bool, err error) {
	resp, err = r.send(cred, up, container, blob, params)
	if err != nil || resp.StatusCode != http.StatusForbidden || !cred.refused(container, blob) {
		return resp, false, err
	}
	// The first response is read and closed, so up can go again, with its
	// body afresh: send gives it a fresh query.
	drain(resp)
	if up.GetBody != nil {
		if up.Body, err = up.GetBody(); err != nil {
			return nil, false, err
		}
	}
	resp, err = r.send(cred, up, container, blob, params)
	return resp, true, err
}

// send authorizes up with cred and sends it, its query params followed by
// the token. The query and errors never leave here with a token in them.
func (r sender) send(cred credential, up *http.Request, container, blob, params string) (*http.Response, error) {
	token, err := cred.token(container, blob)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	query := token.Encode()
	if params != "" && query != "" {
		query = params + "&" + query
	} else if params != "" {
		query = params
	}
	up.URL.RawQuery = query
	if c := r.logger.Check(zapcore.DebugLevel, "azure blob request"); c != nil {
		c.Write(zap.String("container", container), zap.String("blob", blob), zap.String("method", up.Method))
	}
	resp, err := r.conn.RoundTrip(up)
	if err != nil {
		return nil, redactError(err, query)
	}
	return resp, nil
}

// resolveSuffixRange turns a suffix range, bytes=-N, which Azure does not
// support, into an absolute one from the blob's length, asked with a HEAD.
// The GET is tied to the version the HEAD saw with If-Match (pinned), so a
// blob replaced in between cannot answer with its bytes at offsets worked
// out from the old length. When the HEAD cannot tell the length (the blob
// is missing, say), or the client's own If-Match names another version,
// the range is dropped and Azure answers the whole request.
func (r *reader) resolveSuffixRange(up *http.Request, container, blob string) (pinned bool, err error) {
	suffix, ok := strings.CutPrefix(up.Header.Get("Range"), "bytes=-")
	if !ok {
		return false, nil
	}
	n, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil {
		up.Header.Del("Range")
		return false, nil
	}
	head := up.Clone(up.Context())
	head.Method = http.MethodHead
	head.Header = http.Header{"X-Ms-Version": {r.Version}}
	resp, _, err := r.sendHealing(head, container, blob)
	if err != nil {
		return false, err
	}
	drain(resp)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 0 || etag == "" || !ifMatchAllows(up.Header.Values("If-Match"), etag) {
		up.Header.Del("Range")
		return false, nil
	}
	up.Header.Set("If-Match", etag)
	size := resp.ContentLength
	if n == 0 {
		// bytes=-0 selects nothing: ask for a range past the end, which
		// Azure answers 416, as RFC 9110 wants. (Azurite serves a range
		// that starts exactly at the end, hence one byte more.)
		up.Header.Set("Range", "bytes="+strconv.FormatInt(size+1, 10)+"-")
		return true, nil
	}
	up.Header.Set("Range", "bytes="+strconv.FormatInt(max(size-n, 0), 10)+"-")
	return true, nil
}

// ifMatchAllows reports whether the If-Match values a client sent (none,
// "*", or a list of entity tags) let a version with etag through.
func ifMatchAllows(values []string, etag string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			if tag = strings.TrimSpace(tag); tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}

// upstreamRequest makes the request Azure gets: a clone of req with the
// endpoint's Host, the blob's path, no body and only the allowed headers.
// The URL's host stays the upstream reverse_proxy chose: its load balancing,
// health checks and dialing stay in charge.
func (r *reader) upstreamRequest(req *http.Request, m mappedBlob) *http.Request {
	svc := r.auth
	// A shallow copy with a URL of its own: the token goes into that URL,
	// never the client's; the header is built anew below, so the deep copy
	// req.Clone makes of it would be thrown away (1.7 % of Caddy's CPU per
	// 1 KiB request in a profile of ./xcaddy.sh bench).
	up := req.WithContext(req.Context())
	u := *req.URL
	up.URL = &u
	up.Host = svc.endpoint.Host
	up.URL.Path, up.URL.RawPath = svc.endpoint.BlobPath(m.container, m.name)
	up.URL.RawQuery, up.URL.Fragment, up.URL.ForceQuery = "", "", false
	up.Header = forwardedHeaders(req.Header)
	up.Header.Set("x-ms-version", r.Version)
	// A read sends nothing: no body, no trailers the client chose.
	up.Body, up.GetBody, up.ContentLength = nil, nil, 0
	up.TransferEncoding, up.Trailer = nil, nil
	return up
}

// dropErrorBody empties Azure's body on every error status, 412 and 416
// included: Azure's error documents can quote the string-to-sign
// (AuthenticationErrorDetail), and clients have no use for them. Headers
// that describe the blob, such as a 416's Content-Range, stay.
func dropErrorBody(resp *http.Response) {
	if resp.StatusCode < 400 {
		return
	}
	drain(resp)
	resp.Body, resp.ContentLength = http.NoBody, 0
	resp.Header.Set("Content-Length", "0")
	resp.Header.Del("Content-Type")
	resp.Header.Del("Content-Encoding")
}

// drain reads a little of a response body so its connection can be reused,
// then closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// redactError removes the query from an error's text: net/http errors can
// quote the request URL.
func redactError(err error, query string) error {
	if query == "" || !strings.Contains(err.Error(), query) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), query, sas.RedactQuery(query)))
}
