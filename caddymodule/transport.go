package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddy.RegisterModule(Transport{})
}

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

	// Origin is the account, its endpoint, the container and the
	// credential: where the blobs are and what signs for them.
	Origin

	// Scope is "blob" (default: one sr=b token per blob, least privilege)
	// or "container" (one sr=c token for the whole container).
	Scope string `json:"scope,omitempty"`

	// TTL is the lifetime of each signed token. Default: 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// RenewBefore: a cached token is signed again once less than this is
	// left. Default: ttl/4. Must be below ttl.
	RenewBefore caddy.Duration `json:"renew_before,omitempty"`

	// Policy names a stored access policy of the container (si), so its
	// tokens can be revoked by removing or changing the policy. The policy
	// must grant read (r) and leave the expiry to the token: tokens name it
	// and carry no permissions (sp) of their own.
	Policy string `json:"policy,omitempty"`

	// The header overrides are signed into each token. They need a
	// credential that signs: account_key, a connection string's key or
	// identity.
	HeaderOverrides

	// GuessContentType replaces a Content-Type of application/octet-stream
	// (what Azure stores when an upload sets none) with the type of the
	// blob name's extension, when it has a known one.
	GuessContentType bool `json:"guess_content_type,omitempty"`

	// UserContent serves a container of what users uploaded, whose stored
	// headers the uploader chose, so that nothing in it runs as the site:
	// images (not SVG), audio and video inline with their type, anything
	// else as an application/octet-stream attachment; the stored
	// Cache-Control replaced by cache_control, or max-age=300; and every
	// blob answer sandboxed with a Content-Security-Policy (sandbox;
	// default-src 'none' …) and nosniff. With redirect, the type,
	// disposition and Cache-Control are signed into each URL instead.
	UserContent bool `json:"user_content,omitempty"`

	auth  *authority // what signs, and where the blobs are
	reads credential // how reads are authorized: the read tokens and their cache
	// plainToLoopbackOnly: the endpoint is plain http, taken because it
	// is on loopback, so the upstream reverse_proxy dials must be too.
	plainToLoopbackOnly bool
	logger              *zap.Logger
	expiryTimers        []*time.Timer
	counters            *transportCounters // a pointer: Transport values are copied while the Caddyfile is adapted
	metricsRegistry     *prometheus.Registry
}

// HeaderOverrides are response headers Azure sends instead of the blob's
// own properties, signed into a token (rscc, rsct, rscd, rsce, rscl).
type HeaderOverrides struct {
	CacheControl       string `json:"cache_control,omitempty"`
	ContentType        string `json:"content_type,omitempty"`
	ContentDisposition string `json:"content_disposition,omitempty"`
	ContentEncoding    string `json:"content_encoding,omitempty"`
	ContentLanguage    string `json:"content_language,omitempty"`
}

// signInto sets the overrides of v.
func (h HeaderOverrides) signInto(v *sas.ServiceValues) {
	v.CacheControl, v.ContentType, v.ContentDisposition = h.CacheControl, h.ContentType, h.ContentDisposition
	v.ContentEncoding, v.ContentLanguage = h.ContentEncoding, h.ContentLanguage
}

// originOption is an option of an origin: of the azure_blob transport, of
// the azure_blob directive's block and its fallbacks, and of the other
// modules that take it. originOptions drives the Caddyfile, what a
// fallback inherits, which modules take what, and the checks on
// credentials, so a new option is one field and one row.
type originOption struct {
	name      string
	onOrigin  func(*Origin) any          // the option's field, for one of Origin
	onHeaders func(*HeaderOverrides) any // for a header override
	onReads   func(*Transport) any       // else the transport's: how it signs its reads
	kind      optionKind
	inherit   inheritance
	takenBy   modules // the modules beside azure_blob and its transport that take it
}

// field is the option's field in t: *string, *bool, *caddy.Duration or
// **Identity.
func (o originOption) field(t *Transport) any { return o.in(t.fields()) }

// in is the option's field among f, or nil when f has no part for it.
func (o originOption) in(f optionFields) any {
	switch {
	case o.onOrigin != nil:
		return o.onOrigin(f.origin)
	case o.onHeaders != nil && f.headers != nil:
		return o.onHeaders(f.headers)
	case o.onReads != nil && f.reads != nil:
		return o.onReads(f.reads)
	}
	return nil
}

// optionFields are where a module's options go: its Origin, its header
// overrides and (the transport's alone) its read options, with the http
// transport options beside them.
type optionFields struct {
	origin  *Origin
	headers *HeaderOverrides
	reads   *Transport
	http    **reverseproxy.HTTPTransport
}

// fields are where t's options go.
func (t *Transport) fields() optionFields {
	return optionFields{origin: &t.Origin, headers: &t.HeaderOverrides, reads: t, http: &t.HTTPTransport}
}

// optionKind says what an option is, for the checks that read the table.
type optionKind uint8

const (
	credentialOption optionKind = 1 << iota // a way to authorize: exactly one is given
	locatingOption                          // says where the account is
	secretOption                            // a literal value is warned about: use a placeholder
	signedOnlyOption                        // only a token Caddy signs carries it
)

// inheritance says when a fallback inherits an option it does not give.
type inheritance uint8

const (
	inheritAlways        inheritance = iota
	inheritSameAccount               // not by a fallback that names an account, endpoint or credential
	inheritSameContainer             // nor by one that names a container
)

// modules are the modules, beside azure_blob and its transport, that take
// an option.
type modules uint8

const (
	takenByAzureSAS modules = 1 << iota
)

var originOptions = []originOption{
	{"account", func(o *Origin) any { return &o.Account }, nil, nil, locatingOption, inheritSameAccount, takenByAzureSAS},
	{"endpoint", func(o *Origin) any { return &o.Endpoint }, nil, nil, locatingOption, inheritSameAccount, takenByAzureSAS},
	// Not azure_sas: it hands its URLs to clients, and their network is not the one trusted.
	{"insecure_http", func(o *Origin) any { return &o.InsecureHTTP }, nil, nil, 0, inheritSameAccount, 0},
	{"container", func(o *Origin) any { return &o.Container }, nil, nil, 0, inheritAlways, takenByAzureSAS},
	{"account_key", func(o *Origin) any { return &o.AccountKey }, nil, nil, credentialOption | secretOption, inheritSameAccount, takenByAzureSAS},
	{"connection_string", func(o *Origin) any { return &o.ConnectionString }, nil, nil, credentialOption | locatingOption | secretOption, inheritSameAccount, takenByAzureSAS},
	{"sas_token", func(o *Origin) any { return &o.SASToken }, nil, nil, credentialOption | secretOption, inheritSameAccount, 0},
	{"identity", func(o *Origin) any { return &o.Identity }, nil, nil, credentialOption | secretOption, inheritSameAccount, takenByAzureSAS},
	{"anonymous", func(o *Origin) any { return &o.Anonymous }, nil, nil, credentialOption, inheritSameAccount, 0},
	{"scope", nil, nil, func(t *Transport) any { return &t.Scope }, 0, inheritAlways, 0},
	{"ttl", nil, nil, func(t *Transport) any { return &t.TTL }, 0, inheritAlways, 0},
	{"renew_before", nil, nil, func(t *Transport) any { return &t.RenewBefore }, 0, inheritAlways, 0},
	{"version", func(o *Origin) any { return &o.Version }, nil, nil, 0, inheritAlways, takenByAzureSAS},
	{"policy", nil, nil, func(t *Transport) any { return &t.Policy }, signedOnlyOption, inheritSameContainer, 0},
	{"cache_control", nil, func(h *HeaderOverrides) any { return &h.CacheControl }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_type", nil, func(h *HeaderOverrides) any { return &h.ContentType }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_disposition", nil, func(h *HeaderOverrides) any { return &h.ContentDisposition }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_encoding", nil, func(h *HeaderOverrides) any { return &h.ContentEncoding }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_language", nil, func(h *HeaderOverrides) any { return &h.ContentLanguage }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"guess_content_type", nil, nil, func(t *Transport) any { return &t.GuessContentType }, 0, inheritAlways, 0},
	{"user_content", nil, nil, func(t *Transport) any { return &t.UserContent }, 0, inheritAlways, 0},
}

// lookupOriginOption returns the row of an option name.
func lookupOriginOption(name string) (originOption, bool) {
	for _, o := range originOptions {
		if o.name == name {
			return o, true
		}
	}
	return originOption{}, false
}

// optionsOfKind lists the names of the options of a kind, in table order,
// as "a, b or c".
func optionsOfKind(kind optionKind) string {
	var names []string
	for _, o := range originOptions {
		if o.kind&kind != 0 {
			names = append(names, o.name)
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// isSet reports whether t gives option o.
func (o originOption) isSet(t *Transport) bool { return isSetField(o.field(t)) }

// isSetField reports whether the option field p points at is given.
func isSetField(p any) bool {
	switch v := p.(type) {
	case *string:
		return *v != ""
	case *bool:
		return *v
	case *caddy.Duration:
		return *v != 0
	case **Identity:
		return *v != nil
	}
	panic(fmt.Sprintf("originOptions: a field of type %T", p))
}

// clear unsets option o in t.
func (o originOption) clear(t *Transport) {
	switch v := o.field(t).(type) {
	case *string:
		*v = ""
	case *bool:
		*v = false
	case *caddy.Duration:
		*v = 0
	case **Identity:
		*v = nil
	default:
		panic("originOptions: field of an unknown type: " + o.name)
	}
}

// secretValue returns the secret the option called name holds in the
// field p points at, and how to name it.
func secretValue(name string, p any) (string, string) {
	switch v := p.(type) {
	case *string:
		return name, *v
	case **Identity:
		if *v != nil {
			return name + " client_secret", (*v).ClientSecret
		}
	}
	return name, ""
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
func (t *Transport) Provision(ctx caddy.Context) (err error) {
	defer func() { err = t.where(err) }()
	t.logger = ctx.Logger()
	t.setDefaults()
	if err := t.Validate(); err != nil {
		return err
	}
	auth, err := t.Origin.authorize()
	if err != nil {
		return err
	}
	t.auth = auth
	if t.reads, err = t.readCredential(auth); err != nil {
		return err
	}
	t.plainToLoopbackOnly = auth.endpoint.Scheme == "http" && !t.InsecureHTTP && !auth.key.IsDevelopmentKey()
	t.counters = new(transportCounters)
	if tok := auth.token; tok != nil && !tok.ReadOnly() {
		t.logger.Warn("sas_token grants more than read and list; a read-only token is enough",
			zap.String("permissions", tok.PermissionString()))
	}
	if auth.token != nil {
		t.warnBeforeExpiry(auth.token.Expiry)
	}
	t.warnLiteralSecret(t.logger)
	if t.Container == "" {
		t.logger.Warn("no container set: clients can read any container of the account the credential reaches",
			zap.String("account", auth.account))
	}
	// Keys are asked for through the same connection settings (TLS trust,
	// proxy, timeouts) as the blobs.
	if t.HTTPTransport, err = provisionConnection(ctx, t.HTTPTransport, auth.endpoint); err != nil {
		return err
	}
	if err := auth.joinKeyringThrough(t.HTTPTransport, t.logger); err != nil {
		return err
	}
	// Last: the collector reads the transport from the moment it is
	// registered, so everything it reads must be in place.
	if err := registerMetrics(ctx.GetMetricsRegistry(), t); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	return nil
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
	if err := t.Origin.validate(); err != nil {
		return err
	}
	switch t.Scope {
	case "", scopeBlob, scopeContainer:
	default:
		return errors.New("scope must be blob or container")
	}
	if err := checkHTTPTransport(t.HTTPTransport); err != nil {
		return err
	}
	if err := t.checkUserContent(); err != nil {
		return err
	}
	if t.Identity != nil && t.Policy != "" {
		return errors.New("policy: a user-delegation token (identity) cannot name a stored access policy")
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

// checkVersion refuses a signed service version the plugin does not know.
func checkVersion(version string) error {
	if version != "" && !slices.Contains(sas.KnownVersions(), version) {
		known := sas.KnownVersions()
		return fmt.Errorf("version: not a known Azure Storage service version (oldest %s, newest %s)", known[0], known[len(known)-1])
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
			t.logger.Check(level, msg).Write(logTime("expiry", expiry))
		}))
	}
}

// Cleanup stops the expiry warnings and releases the embedded transport's
// connections; it also works after a partial Provision.
func (t *Transport) Cleanup() error {
	unregisterMetrics(t)
	t.auth.release()
	for _, timer := range t.expiryTimers {
		timer.Stop()
	}
	if t.HTTPTransport == nil {
		return nil
	}
	return t.HTTPTransport.Cleanup()
}

// checkHTTPTransport refuses http transport settings that would send a
// token where it can be read or that Azure cannot speak.
func checkHTTPTransport(h *reverseproxy.HTTPTransport) error {
	if h == nil {
		return nil
	}
	if h.TLS != nil && len(h.TLS.ExceptPorts) > 0 {
		return errors.New("tls_except_ports would send signed requests in clear text")
	}
	if h.TLS != nil && h.TLS.InsecureSkipVerify {
		return errors.New("tls_insecure_skip_verify would hand tokens to anyone in the middle; trust a CA with tls_trust_pool instead")
	}
	for _, v := range h.Versions {
		if !slices.Contains([]string{"1.1", "2"}, v) {
			return fmt.Errorf("versions %s: Azure Blob Storage speaks HTTP/1.1 and HTTP/2", v)
		}
	}
	if h.ProxyProtocol != "" {
		return errors.New("proxy_protocol: Azure Blob Storage does not accept the PROXY protocol")
	}
	return nil
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
