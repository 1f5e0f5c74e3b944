package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
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

func init() {
	caddy.RegisterModule(Transport{})
}

// Log messages for a 401 or 403 from Azure: a token given in the config,
// and a token signed afresh after a first refusal.
const (
	logRefused         = "Azure refused the request's authorization"
	logRefusedResigned = "Azure refused a freshly signed token: the account key is not one it accepts (rotated or wrong), or a stored policy or the clock is off"
	logRefusedPolicy   = "Azure refused a freshly signed token that names a stored access policy: the policy was removed or changed (revoked), or it does not grant read, or it sets an expiry of its own"
)

// Scopes of the signed tokens.
const (
	scopeBlob      = "blob"
	scopeContainer = "container"
)

// Transport is a reverse_proxy transport that reads blobs from Azure Blob
// Storage. Each request's path is /container/blob; the transport forwards
// it to the account's blob endpoint with a read-only SAS that it signs (or a
// sas_token, or nothing for an anonymous container) and caches until shortly
// before expiry.
//
// Signing happens on a clone of the request inside RoundTrip, so no token
// ever reaches Caddy's logs, placeholders or error messages. The client's
// query string is dropped; only Range and the If-Match, If-None-Match,
// If-Modified-Since and If-Unmodified-Since conditions of the client's
// headers are sent, with x-ms-version set to the signed version. A request
// it will not send is answered, not failed, so that reverse_proxy's health
// checks never count a client's mistake against Azure: 405 with Allow for
// a method other than GET and HEAD, 404 for a path that names no blob of
// the allowed container, 400 for a name Azure cannot hold. A suffix range
// is sized with a HEAD and read with a GET tied to the version sized
// (If-Match). A 403 from Azure drops the cached token and tries once more
// with a fresh one. x-ms-* and Server response headers and Azure's error
// bodies are removed; every response carries X-Content-Type-Options:
// nosniff.
//
// It sets these placeholders, for logs and response headers (none ever
// holds a token):
//
// Placeholder | Description
// ------------|-------------
// `{http.azure_blob.account}` | the storage account
// `{http.azure_blob.container}` | the container of the blob read
// `{http.azure_blob.blob}` | the blob name
//
// It embeds Caddy's HTTP transport: its timeouts, keep-alive and TLS
// settings apply, in JSON and in the Caddyfile. An https endpoint turns on
// TLS; compression is off, so blobs go out as stored. Defaults suit media:
// dial_timeout 3s, response_header_timeout 30s, read_timeout 1m (no read
// from Azure for a minute ends the response) and keep-alive idle_timeout
// 30s. Settings that would expose tokens or that Azure cannot speak are
// refused: tls_except_ports, tls_insecure_skip_verify, versions h2c and 3,
// proxy_protocol.
type Transport struct {
	*reverseproxy.HTTPTransport

	// Account is the storage account name. Default: from the connection
	// string or the endpoint.
	Account string `json:"account,omitempty"`

	// Endpoint is the blob service URL; a path-style one works, e.g.
	// Azurite's http://127.0.0.1:10000/devstoreaccount1. Default:
	// https://<account>.blob.core.windows.net, or the connection string's.
	Endpoint string `json:"endpoint,omitempty"`

	// Container, when set, is the only container requests may address.
	Container string `json:"container,omitempty"`

	// AccountKey signs a service SAS locally. Write it as a placeholder,
	// {env.AZURE_STORAGE_KEY} or {file./run/secrets/azkey}.
	AccountKey string `json:"account_key,omitempty"`

	// ConnectionString is an Azure Storage connection string, with an
	// AccountKey or a SharedAccessSignature, or UseDevelopmentStorage=true.
	ConnectionString string `json:"connection_string,omitempty"`

	// SASToken is a ready-made SAS, appended as it is (a leading ? is fine).
	SASToken string `json:"sas_token,omitempty"`

	// Anonymous reads a public container: nothing is appended.
	Anonymous bool `json:"anonymous,omitempty"`

	// Identity signs user-delegation tokens with keys obtained through
	// Microsoft Entra ID: no account key is held. Give account (or an
	// endpoint that names it).
	Identity *Identity `json:"identity,omitempty"`

	// Scope is "blob" (default: one sr=b token per blob, least privilege)
	// or "container" (one sr=c token for the whole container).
	Scope string `json:"scope,omitempty"`

	// TTL is the lifetime of each signed token. Default: 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// RenewBefore: a cached token is signed again once less than this is
	// left. Default: ttl/4. Must be below ttl.
	RenewBefore caddy.Duration `json:"renew_before,omitempty"`

	// Version is the signed service version (sv), also sent as
	// x-ms-version. Default: the newest that Azure and Azurite both accept.
	Version string `json:"version,omitempty"`

	// Policy names a stored access policy of the container (si), so its
	// tokens can be revoked by removing or changing the policy. The policy
	// must grant read (r) and leave the expiry to the token: tokens name it
	// and carry no permissions (sp) of their own.
	Policy string `json:"policy,omitempty"`

	// Response headers Azure sends instead of the blob's own properties,
	// signed into each token (rscc, rsct, rscd, rsce, rscl). They need a
	// credential that signs: account_key or a connection string's key.
	CacheControl       string `json:"cache_control,omitempty"`
	ContentType        string `json:"content_type,omitempty"`
	ContentDisposition string `json:"content_disposition,omitempty"`
	ContentEncoding    string `json:"content_encoding,omitempty"`
	ContentLanguage    string `json:"content_language,omitempty"`

	// GuessContentType replaces a Content-Type of application/octet-stream
	// (what Azure stores when an upload sets none) with the type of the
	// blob name's extension, when it has a known one.
	GuessContentType bool `json:"guess_content_type,omitempty"`

	origin          *origin
	logger          *zap.Logger
	expiryTimers    []*time.Timer
	counters        *transportCounters // a pointer: Transport values are copied while the Caddyfile is adapted
	metricsRegistry *prometheus.Registry
	keyring         *keyring // an identity's user delegation keys
	keyringName     string
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.azure_blob",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision resolves the credential, sets defaults and sets up the embedded
// HTTP transport.
func (t *Transport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	t.setDefaults()
	if err := t.Validate(); err != nil {
		return err
	}
	o, err := t.provisionOrigin()
	if err != nil {
		return err
	}
	t.origin = o
	t.counters = new(transportCounters)
	if o.token != nil && !o.token.ReadOnly() {
		t.logger.Warn("sas_token grants more than read and list; a read-only token is enough",
			zap.String("permissions", o.token.PermissionString()))
	}
	if o.token != nil {
		t.warnBeforeExpiry(o.token.Expiry)
	}
	if field := t.literalSecret(); field != "" {
		t.logger.Warn(field + " is written literally: it is in the config, autosave.json and the admin API's GET /config/; " +
			"use {env.VAR} or {file.path}")
	}
	if t.Container == "" {
		t.logger.Warn("no container set: clients can read any container of the account the credential reaches",
			zap.String("account", o.account))
	}
	if t.HTTPTransport == nil {
		t.HTTPTransport = new(reverseproxy.HTTPTransport)
	}
	if o.scheme == "https" && t.TLS == nil {
		t.TLS = new(reverseproxy.TLSConfig)
	}
	setTimeoutDefaults(t.HTTPTransport)
	if t.Compression == nil {
		// Blobs go out as stored: a gzip blob keeps its Content-Encoding,
		// ETag and length instead of being unpacked on the way.
		off := false
		t.Compression = &off
	}
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return fmt.Errorf("http transport: %v", err)
	}
	if t.Identity != nil {
		// Keys are asked for through the same connection settings (TLS
		// trust, proxy, timeouts) as the blobs.
		endpoint := o.scheme + "://" + o.host + o.basePath
		connection, err := json.Marshal(t.HTTPTransport)
		if err != nil {
			return fmt.Errorf("identity: %v", err)
		}
		k, name, err := loadKeyring(endpoint, o.account, t.Identity, connection, &http.Client{Transport: t.HTTPTransport.Transport}, t.logger)
		if err != nil {
			return err
		}
		t.keyring, t.keyringName = k, name
	}
	// Last: the collector reads the transport from the moment it is
	// registered, so everything it reads must be in place.
	if err := registerMetrics(ctx.GetMetricsRegistry(), t); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	return nil
}

// literalSecret names a credential written without a placeholder, or "".
// Azurite's well-known development key is public.
func (t *Transport) literalSecret() string {
	fields := []struct{ name, value string }{
		{"account_key", t.AccountKey}, {"connection_string", t.ConnectionString}, {"sas_token", t.SASToken},
	}
	if t.Identity != nil {
		fields = append(fields, struct{ name, value string }{"identity client_secret", t.Identity.ClientSecret})
	}
	for _, f := range fields {
		public := strings.EqualFold(strings.TrimSpace(f.value), "UseDevelopmentStorage=true") || f.value == sas.DevAccountKey
		if f.value != "" && !hasPlaceholder(f.value) && !public {
			return f.name
		}
	}
	return ""
}

// setDefaults fills in what the configuration left out.
func (t *Transport) setDefaults() {
	if t.TTL == 0 {
		t.TTL = caddy.Duration(time.Hour)
	}
	if t.Scope == "" {
		t.Scope = scopeBlob
	}
	if t.Version == "" {
		t.Version = sas.DefaultVersion
	}
}

// Validate checks the options that need no resolving.
func (t *Transport) Validate() error {
	if t.Container != "" {
		if err := sas.CheckContainerName(t.Container); err != nil {
			return fmt.Errorf("container: %w", err)
		}
	}
	switch t.Scope {
	case "", scopeBlob, scopeContainer:
	default:
		return errors.New("scope must be blob or container")
	}
	if err := checkHTTPTransport(t.HTTPTransport); err != nil {
		return err
	}
	if err := t.Identity.validate(); err != nil {
		return err
	}
	if t.Identity != nil && t.Policy != "" {
		return errors.New("policy: a user-delegation token (identity) cannot name a stored access policy")
	}
	if t.Version != "" && !slices.Contains(sas.KnownVersions(), t.Version) {
		return fmt.Errorf("version: not a known Azure Storage service version (oldest %s, newest %s)", sas.KnownVersions()[0], sas.KnownVersions()[len(sas.KnownVersions())-1])
	}
	ttl, renew := time.Duration(t.TTL), time.Duration(t.RenewBefore)
	switch {
	case ttl < 0 || (ttl > 0 && (ttl < time.Second || ttl%time.Second != 0)):
		return fmt.Errorf("ttl %s must be a positive whole number of seconds", ttl)
	case renew < 0:
		return fmt.Errorf("renew_before %s is negative", renew)
	case ttl > 0 && renew >= ttl:
		return fmt.Errorf("renew_before %s must be less than ttl %s", renew, ttl)
	}
	return nil
}

// TLSEnabled reports whether requests go over TLS. reverse_proxy asks while
// it parses the Caddyfile, before Provision, so the embedded transport may
// still be nil.
func (t *Transport) TLSEnabled() bool {
	return t.HTTPTransport != nil && t.HTTPTransport.TLSEnabled()
}

// EnableTLS turns on TLS; reverse_proxy calls it for https:// upstreams.
func (t *Transport) EnableTLS(base *reverseproxy.TLSConfig) error {
	if t.HTTPTransport == nil {
		t.HTTPTransport = new(reverseproxy.HTTPTransport)
	}
	return t.HTTPTransport.EnableTLS(base)
}

// EnableH2C refuses h2c upstreams: Azure Blob Storage does not speak it.
func (t *Transport) EnableH2C() error {
	return errors.New("azure_blob does not support h2c upstreams: Azure Blob Storage speaks HTTP/1.1 and HTTP/2 over TLS")
}

// warnBeforeExpiry logs a day, an hour and a minute before a sas_token
// expires, and when it has: after that Azure refuses every request.
func (t *Transport) warnBeforeExpiry(expiry time.Time) {
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
		t.expiryTimers = append(t.expiryTimers, time.AfterFunc(max(wait, 0), func() {
			t.logger.Check(level, msg).Write(zap.Time("expiry", expiry))
		}))
	}
}

// Cleanup stops the expiry warnings and releases the embedded transport's
// connections; it also works after a partial Provision.
func (t *Transport) Cleanup() error {
	unregisterMetrics(t)
	if t.keyringName != "" {
		_, _ = keyrings.Delete(t.keyringName)
	}
	for _, timer := range t.expiryTimers {
		timer.Stop()
	}
	if t.HTTPTransport == nil {
		return nil
	}
	return t.HTTPTransport.Cleanup()
}

// RoundTrip sends a blob read to Azure on a signed clone of req. A request
// that cannot be a read of an allowed blob is answered here (405, 404,
// 400), not with an error: it is the client's mistake, and reverse_proxy
// would count an error against the upstream's health.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	container, blob, refused := t.mapRequest(req)
	if refused != nil {
		if c := t.logger.Check(zapcore.DebugLevel, "request refused before Azure"); c != nil {
			c.Write(zap.Int("status", refused.code), zap.String("reason", refused.reason))
		}
		return refused.response(req), nil
	}
	if fallback, _ := caddyhttp.GetVar(req.Context(), varFallback).(bool); fallback {
		t.counters.fallbacks.Add(1)
	}
	if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.azure_blob.account", t.origin.account)
		repl.Set("http.azure_blob.container", container)
		repl.Set("http.azure_blob.blob", blob)
	}
	up := t.upstreamRequest(req, container, blob)
	clientIfMatch := up.Header.Values("If-Match")
	pinned, err := t.resolveSuffixRange(up, container, blob)
	if err != nil {
		return nil, err
	}
	resp, resigned, err := t.sendHealing(up, container, blob)
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
		resp, resigned, err = t.sendHealing(up, container, blob)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		t.counters.authFailures.Add(1)
		msg := logRefused
		switch {
		case resigned && t.Policy != "":
			msg = logRefusedPolicy
		case resigned:
			msg = logRefusedResigned
		}
		t.logger.Error(msg,
			zap.String("container", container),
			zap.String("policy", t.Policy),
			zap.Int("status", resp.StatusCode),
			zap.String("azure_error_code", resp.Header.Get("x-ms-error-code")))
	}
	stripAzureHeaders(resp.Header)
	dropErrorBody(resp)
	if t.GuessContentType && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		guessContentType(resp.Header, blob)
	}
	// A blob is data, never a page or script the browser should guess
	// from its bytes; an upload of HTML under image/png stays an image.
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	// The signed clone stays here: handle_response routes and other
	// modules that read resp.Request see the client's request, no token.
	resp.Request = req
	return resp, nil
}

// mapRequest reads the container and blob of a request, or says why the
// request is refused.
func (t *Transport) mapRequest(req *http.Request) (container, blob string, refused *refusal) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return "", "", &refusal{http.StatusMethodNotAllowed, "azure_blob reads blobs only, with GET or HEAD"}
	}
	container, blob, ok := splitBlobPath("", req.URL.Path)
	switch {
	case !ok:
		return "", "", &refusal{http.StatusNotFound, "request path is not /container/blob"}
	case t.Container != "" && container != t.Container:
		return "", "", &refusal{http.StatusNotFound, "request addresses another container than the configured one"}
	case t.Container == "" && strings.HasPrefix(container, "$"):
		// $logs, $root, $web: never by way of a path a client chose.
		return "", "", &refusal{http.StatusNotFound, "request addresses a system container; name it with container to serve it"}
	case blob == "":
		// A container listing is never ours to ask for.
		return "", "", &refusal{http.StatusNotFound, errNoBlobName.Error()}
	}
	if err := checkBlobName(blob); err != nil {
		return "", "", &refusal{http.StatusBadRequest, err.Error()}
	}
	return container, blob, nil
}

// sendHealing sends up, and once more with a fresh token if Azure answers
// 403: a rotated key, a revoked policy, a clock step. resigned reports the
// second try.
func (t *Transport) sendHealing(up *http.Request, container, blob string) (resp *http.Response, resigned bool, err error) {
	resp, err = t.send(up, container, blob)
	if err != nil || resp.StatusCode != http.StatusForbidden || !t.origin.cred.refused(container, blob) {
		return resp, false, err
	}
	// The first response is read and closed, and up has no body, so up can
	// go again: send gives it a fresh query.
	drain(resp)
	resp, err = t.send(up, container, blob)
	return resp, true, err
}

// send authorizes up and sends it. The query and errors never leave here
// with a token in them.
func (t *Transport) send(up *http.Request, container, blob string) (*http.Response, error) {
	query, err := t.origin.cred.query(container, blob)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	up.URL.RawQuery = query
	if c := t.logger.Check(zapcore.DebugLevel, "azure blob request"); c != nil {
		c.Write(zap.String("container", container), zap.String("blob", blob), zap.String("method", up.Method))
	}
	resp, err := t.HTTPTransport.RoundTrip(up)
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
func (t *Transport) resolveSuffixRange(up *http.Request, container, blob string) (pinned bool, err error) {
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
	head.Header = http.Header{"X-Ms-Version": {t.Version}}
	resp, _, err := t.sendHealing(head, container, blob)
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
func (t *Transport) upstreamRequest(req *http.Request, container, blob string) *http.Request {
	o := t.origin
	up := req.Clone(req.Context())
	up.Host = o.host
	up.URL.Path, up.URL.RawPath = blobURLPath(o.basePath, container, blob)
	up.URL.RawQuery, up.URL.Fragment, up.URL.ForceQuery = "", "", false
	up.Header = forwardedHeaders(req.Header)
	up.Header.Set("x-ms-version", t.Version)
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

// Interface guards
var (
	_ caddy.Provisioner                      = (*Transport)(nil)
	_ caddy.Validator                        = (*Transport)(nil)
	_ caddy.CleanerUpper                     = (*Transport)(nil)
	_ http.RoundTripper                      = (*Transport)(nil)
	_ reverseproxy.TLSTransport              = (*Transport)(nil)
	_ reverseproxy.H2CTransport              = (*Transport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport = (*Transport)(nil)
)
