package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(Transport{})
}

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

	// ReadOrigin is where the blobs are, what signs for them, and how
	// they are read.
	ReadOrigin

	reader *reader // built at provision
}

// fields are where t's options go.
func (t *Transport) fields() optionFields {
	f := t.ReadOrigin.fields()
	f.http = &t.HTTPTransport
	return f
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
	t.setDefaults()
	if err := t.Validate(); err != nil {
		return err
	}
	logger := ctx.Logger()
	if t.reader, err = newReader(ctx, t.ReadOrigin, t.HTTPTransport, logger); err != nil {
		return err
	}
	t.HTTPTransport = t.reader.conn
	if t.Container == "" {
		logger.Warn("no container set: clients can read any container of the account the credential reaches",
			zap.String("account", t.reader.auth.account))
	}
	return nil
}

// Validate checks the options that need no resolving.
func (t *Transport) Validate() error {
	if err := t.ReadOrigin.validate(); err != nil {
		return err
	}
	return checkHTTPTransport(t.HTTPTransport)
}

// checkAtAdapt runs the checks that need no secrets: all of them when every
// credential field is literal, else the ones on the configuration's shape.
func (t *Transport) checkAtAdapt() error {
	if err := checkHTTPTransport(t.HTTPTransport); err != nil {
		return err
	}
	return t.ReadOrigin.checkAtAdapt()
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

// Cleanup lets go of what Provision built, and of the embedded
// transport's connections; it also works after a partial Provision.
func (t *Transport) Cleanup() error {
	if t.reader != nil {
		t.reader.cleanup() // the embedded transport among them
		return nil
	}
	if t.HTTPTransport == nil {
		return nil
	}
	return t.HTTPTransport.Cleanup()
}

// RoundTrip sends a blob read to Azure on a signed clone of req. A request
// that cannot be a read of an allowed blob is answered here (405, 404,
// 400), not with an error: it is the client's mistake, and reverse_proxy
// would count an error against the upstream's health. Azure's 404 for a
// configured container that does not exist comes back as a 502 (see
// answerContainerNotFound).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	mapped, refused := t.mapRequest(req)
	if refused != nil {
		if c := t.reader.logger.Check(zapcore.DebugLevel, "request refused before Azure"); c != nil {
			c.Write(zap.Int("status", refused.code), zap.String("reason", refused.reason))
		}
		return refused.response(req), nil
	}
	return t.reader.read(req, mapped)
}

// mapRequest reads the container and blob from a request's path, or says
// why the request is refused. The path is the one channel of the name: the
// azure_blob handler writes the name it mapped there, and the same rules
// are applied to it as to a path no handler mapped. What the handler adds
// is how the name was mapped (a mapping variable).
func (t *Transport) mapRequest(req *http.Request) (mappedBlob, *refusal) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return mappedBlob{}, &refusal{http.StatusMethodNotAllowed, "azure_blob reads blobs only, with GET or HEAD"}
	}
	container, blob, ok := splitBlobPath("", req.URL.Path)
	if !ok {
		return mappedBlob{}, &refusal{http.StatusNotFound, "request path is not /container/blob"}
	}
	if refused := t.refuseContainer(container); refused != nil {
		return mappedBlob{}, refused
	}
	if blob == "" {
		// A container listing is never ours to ask for.
		return mappedBlob{}, &refusal{http.StatusNotFound, errNoBlobName.Error()}
	}
	if err := checkURLSafeBlobName(blob); err != nil {
		return mappedBlob{}, &refusal{http.StatusBadRequest, err.Error()}
	}
	m := mappedBlob{container: container, name: blob}
	if how, ok := caddyhttp.GetVar(req.Context(), varMapping).(mapping); ok {
		m.private, m.configured = how.private, true
	}
	return m, nil
}

// refuseContainer says why a container may not be read, or returns nil.
func (t *Transport) refuseContainer(container string) *refusal {
	switch {
	case t.Container != "" && container != t.Container:
		return &refusal{http.StatusNotFound, "request addresses another container than the configured one"}
	case t.Container == "" && strings.HasPrefix(container, "$"):
		// $logs, $root, $web: never by way of a path a client chose.
		return &refusal{http.StatusNotFound, "request addresses a system container; name it with container to serve it"}
	}
	return nil
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

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens:
//
//	transport azure_blob {
//		account           <name>
//		endpoint          <url>
//		container         <name>
//		account_key       <base64 key>
//		connection_string <connection string>
//		sas_token         <token>
//		anonymous
//		identity          <kind> [<args>…]
//		scope             blob|container
//		ttl               <duration>
//		renew_before      <duration>
//		version           <service version>
//		policy            <stored access policy id>
//		cache_control       <value>
//		content_type        <value>
//		content_disposition <value>
//		content_encoding    <value>
//		content_language    <value>
//		guess_content_type
//		user_content
//		insecure_http
//		<http transport option> ...
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// response_header_timeout, read_timeout, keepalive, tls_trust_pool,
// resolvers …), read by its own parser; Validate refuses those that would
// expose tokens or that Azure cannot speak. Give exactly one of
// account_key, connection_string, sas_token, identity and anonymous; write
// secrets as {env.VAR} or {file.path} placeholders. No option may be given
// twice.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the transport name
	t.Caddyfile = position(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		if err := t.unmarshalOption(d, seen, transportOptions); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalOption reads the option under the cursor into t: see
// unmarshalOptionInto.
func (t *Transport) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool, block []string) error {
	return unmarshalOptionInto(d, seen, block, t.fields())
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
	_ caddyfile.Unmarshaler                  = (*Transport)(nil)
)
