package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddy.RegisterModule(Issuer{})
}

// Issuer answers an authenticated client's request for a URL with a blob's
// URL and a SAS signed for exactly what its configuration allows: the
// valet-key pattern. The client then reads or uploads straight to Azure.
// It belongs behind Caddy's authentication (basic_auth, forward_auth, …):
// the configuration decides the container, the blob-name prefix (built
// from placeholders such as {http.auth.user.id}), the permissions a client
// may ask for and the longest lifetime; the client names the blob under
// the prefix and asks for permissions and a lifetime within those bounds.
//
// POST with a JSON body {"blob": "name", "permissions": "cw", "ttl": "10m"}
// (permissions and ttl may be left out: r and the configured ttl), or GET
// with ?blob=name&ttl=10m for a read link, is answered with JSON:
// {"url": "...", "container": "...", "blob": "prefix/name", "permissions":
// "cw", "expiry": "2030-01-01T00:00:00Z"}. A request outside the bounds
// gets 400 with {"error": "...", "field": "blob|permissions|ttl"}, never a
// token it did not ask for; a prefix whose placeholder resolves empty, or
// to something with a '/', gets 403. The body is read strictly: one JSON
// object of strings, each known key at most once, valid UTF-8 and no
// escaped half of a surrogate pair (\ud800), or 400 with {"error": "..."}.
//
// It answers pages of its own origin and clients that are not browsers
// (curl, servers), which send no Sec-Fetch-Site. A browser's request made
// by a page of another site, or of a sibling subdomain (Sec-Fetch-Site
// cross-site or same-site), gets 403 with {"error": "..."}, for GET and
// POST alike: a page elsewhere could otherwise have a URL issued with the
// user's remembered credentials.
//
// A URL for an https endpoint is signed for https only (spr=https).
//
// Each URL issued is logged at info level without its signature (user,
// container, blob, permissions, expiry, client address) and counted in
// caddy_azure_sas_issued_total by account, container and permissions.
type Issuer struct {
	// Origin is the account, its endpoint, the container (required) and
	// the credential that signs: account_key, a connection string with
	// AccountKey, or identity (user-delegation URLs). A sas_token or
	// anonymous has nothing to sign with, and is refused; so is
	// insecure_http, since the URLs are handed to clients.
	Origin

	// CORS lets pages of the origins it lists ask for URLs, with their
	// credentials: named origins only, never "*". Each may ask with GET or
	// a form POST, which browsers send without a preflight.
	CORS *CORS `json:"cors,omitempty"`

	// Prefix is put before every blob name a client asks for, with
	// placeholders replaced for each request, e.g.
	// "uploads/{http.auth.user.id}/". Its placeholders must say who the
	// client is as Caddy checked it ({http.auth.user.*}, {http.vars.*},
	// {http.request.tls.client.*}): one the client chooses (its query,
	// headers, cookies, host …) or its address is refused.
	Prefix string `json:"prefix,omitempty"`

	// Permissions are the letters a client may ask for, e.g. "rcw".
	// Default: "r". With c and no w, an upload URL can create a blob but
	// never overwrite one.
	Permissions string `json:"permissions,omitempty"`

	// TTL is the lifetime of a URL a client asks for without one. Default:
	// 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// MaxTTL is the longest lifetime a client may ask for. Default: TTL.
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`

	// The header overrides are signed into URLs that grant read.
	HeaderOverrides

	// Connection is how Caddy reaches Microsoft Entra ID and Azure for an
	// identity's user delegation keys: the options of Caddy's http
	// transport (timeouts, TLS trust, proxy).
	Connection *reverseproxy.HTTPTransport `json:"connection,omitempty"`

	auth            *authority
	metricsRegistry *prometheus.Registry
	allowed         sas.Permissions
	logger          *zap.Logger
	issued          *issuedCounter
}

// CaddyModule returns the Caddy module information.
func (Issuer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.azure_sas",
		New: func() caddy.Module { return new(Issuer) },
	}
}

// maxIssueBody bounds a request's JSON body: a blob name is at most 1024
// characters of four bytes.
const maxIssueBody = 8 << 10

// Provision builds the authority that signs and checks the bounds.
func (is *Issuer) Provision(ctx caddy.Context) (err error) {
	defer func() { err = is.where(err) }()
	is.logger = ctx.Logger()
	if err := is.Validate(); err != nil {
		return err
	}
	if is.TTL == 0 {
		is.TTL = caddy.Duration(5 * time.Minute)
		if is.MaxTTL != 0 {
			is.TTL = min(is.TTL, is.MaxTTL)
		}
	}
	if is.MaxTTL == 0 {
		is.MaxTTL = is.TTL
	}
	if is.MaxTTL < is.TTL {
		return errors.New("max_ttl is below ttl")
	}
	if is.auth, err = newAuthority(&is.Origin); err != nil {
		return err
	}
	if err := is.checkAuthority(is.auth); err != nil {
		return err
	}
	is.warnLiteralSecret(is.logger)
	// The connection serves an identity's key requests; options given
	// without one are still checked, as an azure_blob transport's are.
	if is.Identity != nil || is.Connection != nil {
		if is.Connection, err = is.auth.connect(ctx, is.Connection, is.logger); err != nil {
			return err
		}
	}
	is.metricsRegistry = ctx.GetMetricsRegistry()
	if err := registerAuthority(is.metricsRegistry, is.auth, is.Container); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	is.issued, err = registerIssued(is.metricsRegistry)
	return err
}

// checkAuthority checks that a can sign what is issued, for clients.
func (is *Issuer) checkAuthority(a *authority) error {
	if !a.canSign() {
		return errNothingToSignWith
	}
	if err := checkClientEndpoint("azure_sas", a.endpoint, a.key); err != nil {
		return err
	}
	if a.identity != nil {
		// The key is renewed with a quarter of its life left: a URL up to
		// that long can always be signed with the key in use.
		lifetime := a.identity.keyLifetime()
		if time.Duration(is.MaxTTL) > lifetime/4 {
			return fmt.Errorf("max_ttl %s is longer than a quarter of the identity's key_lifetime (%s)", time.Duration(is.MaxTTL), lifetime)
		}
	}
	return nil
}

// checkAtAdapt runs the checks that need no secrets: all of them when
// every credential and locating option is literal, else the ones on the
// configuration's shape.
func (is *Issuer) checkAtAdapt() error {
	a, err := is.authorizeAtAdapt()
	if a == nil || err != nil {
		return err
	}
	return is.checkAuthority(a)
}

// Cleanup lets go of the identity's keyring, its metrics and the
// connection's.
func (is *Issuer) Cleanup() error {
	unregisterAuthority(is.metricsRegistry, is.auth)
	is.auth.release()
	if is.Connection == nil {
		return nil
	}
	return is.Connection.Cleanup()
}

// Validate checks the configuration that needs no credential.
func (is *Issuer) Validate() error {
	if err := checkRequiredContainer(is.Container); err != nil {
		return err
	}
	if err := is.Origin.validate(); err != nil {
		return err
	}
	if err := refuseUntaken(takenByAzureSAS, optionFields{origin: &is.Origin, headers: &is.HeaderOverrides}); err != nil {
		return err
	}
	if err := checkHTTPTransport(is.Connection); err != nil {
		return err
	}
	if err := is.CORS.validate(sasCORS); err != nil {
		return err
	}
	letters := is.Permissions
	if letters == "" {
		letters = "r"
	}
	allowed, err := sas.ParsePermissions(sas.ResourceBlob, letters)
	if err != nil {
		return fmt.Errorf("permissions: %w", err)
	}
	is.allowed = allowed
	if err := checkPrefixTemplate(is.Prefix); err != nil {
		return err
	}
	for _, d := range []caddy.Duration{is.TTL, is.MaxTTL} {
		if d < 0 || time.Duration(d)%time.Second != 0 {
			return errors.New("ttl and max_ttl must be positive whole seconds")
		}
	}
	return nil
}

// issueRequest is what a client asks for.
type issueRequest struct {
	Blob        string `json:"blob"`
	Permissions string `json:"permissions"`
	TTL         string `json:"ttl"`
}

// issuedURL is the answer: the URL and what it grants.
type issuedURL struct {
	URL         string    `json:"url"`
	Container   string    `json:"container"`
	Blob        string    `json:"blob"`
	Permissions string    `json:"permissions"`
	Expiry      time.Time `json:"expiry"`
}

// issueError is a refusal, naming the bound or field at fault.
type issueError struct {
	status int
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
}

// ServeHTTP issues a URL, or says why not.
func (is *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if is.CORS.serve(w, r, sasCORS) {
		return nil
	}
	if refused := is.fromAnotherSite(r); refused != nil {
		return writeJSON(w, refused.status, refused)
	}
	req, refused := is.readRequest(r)
	if refused == nil {
		var answer *issuedURL
		if answer, refused = is.issue(r, req); refused == nil {
			return writeJSON(w, http.StatusOK, answer)
		}
	}
	if refused.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, POST")
	}
	return writeJSON(w, refused.status, refused)
}

// fromAnotherSite refuses a browser's request that another site's page
// made, which a browser says in Sec-Fetch-Site. It would carry the user's
// remembered credentials (basic auth, cookies) without the user asking,
// and fill the issuance log and metric. same-site is refused too: a
// sibling subdomain can host what users uploaded. Requests without the
// header (curl, servers) and same-origin or none (typed, bookmarked) pass,
// and so do those of the origins cors lists.
func (is *Issuer) fromAnotherSite(r *http.Request) *issueError {
	switch site := strings.ToLower(r.Header.Get("Sec-Fetch-Site")); site {
	case "cross-site", "same-site":
		if is.CORS != nil && is.CORS.allowOrigin(r) != "" {
			return nil
		}
		return &issueError{http.StatusForbidden, "azure_sas answers pages of its own origin and clients that are not browsers, " +
			"not a page of another site (Sec-Fetch-Site: " + site + ")", ""}
	}
	return nil
}

// readRequest reads what the client asks for from a POST's JSON body or a
// GET's query (read links only).
func (is *Issuer) readRequest(r *http.Request) (issueRequest, *issueError) {
	var req issueRequest
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req = issueRequest{Blob: q.Get("blob"), Permissions: q.Get("permissions"), TTL: q.Get("ttl")}
		if req.Permissions != "" && req.Permissions != "r" {
			return req, &issueError{http.StatusBadRequest, "a GET issues read links only: ask for other permissions with POST", "permissions"}
		}
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mt != "application/json" && mt != formType) {
			return req, &issueError{http.StatusUnsupportedMediaType, "send the request as application/json, or as a form (" + formType + ")", ""}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxIssueBody+1))
		switch {
		case err != nil:
			return req, &issueError{http.StatusBadRequest, "the request body could not be read", ""}
		case len(body) > maxIssueBody:
			return req, &issueError{http.StatusRequestEntityTooLarge, "the request body is too large", ""}
		}
		if mt == formType {
			if err := decodeIssueForm(body, &req); err != nil {
				return req, &issueError{http.StatusBadRequest, "the form is not blob=…&permissions=…&ttl=…: " + err.Error(), ""}
			}
			break
		}
		if err := decodeIssueRequest(body, &req); err != nil {
			return req, &issueError{http.StatusBadRequest, `the body is not {"blob": …, "permissions": …, "ttl": …}: ` + err.Error(), ""}
		}
	default:
		return req, &issueError{http.StatusMethodNotAllowed, "ask with POST (or GET for a read link)", ""}
	}
	return req, nil
}

// formType is the type of a form's body, which a page on another origin
// can send without a preflight: basic_auth in front would answer the
// preflight 401, as a browser sends it without credentials.
const formType = "application/x-www-form-urlencoded"

// decodeIssueForm reads a form body as strictly as decodeIssueRequest
// reads JSON: valid UTF-8, the known fields only, each at most once.
func decodeIssueForm(body []byte, req *issueRequest) error {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return errors.New("not a form")
	}
	fields := map[string]*string{"blob": &req.Blob, "permissions": &req.Permissions, "ttl": &req.TTL}
	for name, vals := range values {
		field, ok := fields[name]
		switch {
		case !ok:
			return errors.New("a field other than blob, permissions and ttl")
		case len(vals) > 1:
			return fmt.Errorf("%s given twice", name)
		case !utf8.ValidString(vals[0]):
			return errors.New("not valid UTF-8")
		}
		*field = vals[0]
	}
	return nil
}

// decodeIssueRequest reads a request body strictly: valid UTF-8 (or a name
// would silently become another), one JSON object of strings with the
// known keys written exactly, each at most once, and nothing after it.
// encoding/json alone is not that strict: it lets the last of two equal
// keys win, and turns an escaped half of a surrogate pair (\ud800) into
// U+FFFD, so the object is read key by key and each value's escapes are
// checked.
func decodeIssueRequest(body []byte, req *issueRequest) error {
	if !utf8.Valid(body) {
		return errors.New("not valid UTF-8")
	}
	errShape := errors.New("not a JSON object of strings")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errShape
	}
	var seen [3]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errShape
		}
		name, _ := tok.(string)
		var field *string
		var i int
		switch name {
		case "blob":
			field, i = &req.Blob, 0
		case "permissions":
			field, i = &req.Permissions, 1
		case "ttl":
			field, i = &req.TTL, 2
		default:
			return errors.New("an unknown key")
		}
		if seen[i] {
			return errors.New(name + " is given twice")
		}
		seen[i] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errShape
		}
		switch {
		case string(raw) == "null":
			return errors.New(name + " is null")
		case raw[0] != '"':
			return errShape
		case hasLoneSurrogate(raw):
			return errors.New(name + ` holds half of a surrogate pair (a \ud800-\udfff escape without its other half), which is no character`)
		}
		if err := json.Unmarshal(raw, field); err != nil {
			return errShape
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return errShape
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("something follows the object")
	}
	return nil
}

// hasLoneSurrogate reports whether the JSON string literal s escapes half
// of a surrogate pair: a high one (\ud800-\udbff) not followed at once by
// an escaped low one (\udc00-\udfff), or a low one on its own. s is valid
// JSON, so every backslash starts an escape and \u has four hex digits.
func hasLoneSurrogate(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if s[i] != 'u' {
			continue
		}
		r := escapedRune(s[i+1 : i+5])
		i += 4
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a low half with no high one before it
		case r >= 0xd800 && r <= 0xdbff:
			if i+6 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' {
				return true
			}
			if low := escapedRune(s[i+3 : i+7]); low < 0xdc00 || low > 0xdfff {
				return true
			}
			i += 6 // the pair's low half
		}
	}
	return false
}

// escapedRune is the value of the four hex digits of a \u escape.
func escapedRune(hex []byte) rune {
	n, _ := strconv.ParseUint(string(hex), 16, 16)
	return rune(n)
}

// issue checks req against the bounds and signs its URL.
func (is *Issuer) issue(r *http.Request, req issueRequest) (*issuedURL, *issueError) {
	prefix, err := resolvePrefix(r, is.Prefix)
	if err != nil {
		return nil, &issueError{http.StatusForbidden, err.Error(), ""}
	}
	name := prefix + req.Blob
	switch {
	case req.Blob == "" || strings.HasSuffix(req.Blob, "/"):
		return nil, &issueError{http.StatusBadRequest, "blob must name a blob under the prefix", "blob"}
	case strings.HasPrefix(req.Blob, "/"):
		return nil, &issueError{http.StatusBadRequest, "blob is a name under the prefix, without a leading '/'", "blob"}
	}
	if err := checkURLSafeBlobName(name); err != nil {
		return nil, &issueError{http.StatusBadRequest, err.Error(), "blob"}
	}
	perms := sas.PermRead
	if req.Permissions != "" {
		var err error
		if perms, err = sas.ParsePermissions(sas.ResourceBlob, req.Permissions); err != nil {
			return nil, &issueError{http.StatusBadRequest, err.Error(), "permissions"}
		}
	}
	if !is.allowed.Has(perms) {
		return nil, &issueError{http.StatusBadRequest, fmt.Sprintf("permissions %s are not all allowed: this endpoint issues %s", perms, is.allowed), "permissions"}
	}
	ttl := time.Duration(is.TTL)
	if req.TTL != "" {
		d, err := caddy.ParseDuration(req.TTL)
		switch {
		case err != nil || d <= 0 || d%time.Second != 0:
			return nil, &issueError{http.StatusBadRequest, "ttl must be a positive whole number of seconds, such as 90s or 10m", "ttl"}
		case d > time.Duration(is.MaxTTL):
			return nil, &issueError{http.StatusBadRequest, fmt.Sprintf("ttl is longer than the %s this endpoint allows", time.Duration(is.MaxTTL)), "ttl"}
		}
		ttl = d
	}
	v := sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: perms, Container: is.Container, Blob: name,
		Expiry: time.Now().Add(ttl).Truncate(time.Second)}
	if perms.Has(sas.PermRead) {
		is.HeaderOverrides.signInto(&v)
	}
	token, err := is.auth.sign(&v)
	if err != nil {
		// Without a delegation key, the keyring logs each failed attempt:
		// one line per request would let clients flood the log.
		if !errors.Is(err, errNoDelegationKey) {
			is.logger.Error("signing a SAS URL failed", zap.String("container", is.Container), zap.Error(err))
		}
		return nil, &issueError{http.StatusServiceUnavailable, "the URL could not be signed", ""}
	}
	is.issued.add(is.auth.account, is.Container, perms.String())
	var user string
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		user, _ = repl.GetString("http.auth.user.id")
	}
	is.logger.Info("issued a SAS URL",
		zap.String("user", user), zap.String("container", is.Container), zap.String("blob", name),
		zap.String("permissions", perms.String()), logTime("expiry", v.Expiry), zap.String("client_ip", clientIP(r)))
	return &issuedURL{
		URL:       is.auth.endpoint.URL(is.Container, name, token),
		Container: is.Container, Blob: name, Permissions: perms.String(), Expiry: v.Expiry.UTC(),
	}, nil
}

// clientIP is the client's address as Caddy determined it.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		return ip
	}
	return r.RemoteAddr
}

// writeJSON answers with v as JSON, never to be cached: it may hold a URL
// with a token.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // a URL's '&' stays '&', not \u0026
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	_, err := w.Write(body.Bytes())
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Issuer)(nil)
	_ caddy.CleanerUpper          = (*Issuer)(nil)
	_ caddy.Validator             = (*Issuer)(nil)
	_ caddyhttp.MiddlewareHandler = (*Issuer)(nil)
)
