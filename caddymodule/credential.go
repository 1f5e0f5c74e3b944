package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// credential authorizes upstream requests: it returns the query to append
// for a container and blob, and forgets a token Azure refused.
type credential interface {
	query(container, blob string) (string, error)
	// refused drops what was used for container and blob; it reports
	// whether asking again can give a different answer.
	refused(container, blob string) bool
}

// signingCredential signs service SAS tokens with the account key, or a
// user delegation key, and caches them.
type signingCredential struct {
	signer    *sas.Signer
	onRefused func() // an identity's keyring asks for a new key
}

func (c signingCredential) query(container, blob string) (string, error) {
	q, err := c.signer.TokenFor(container, blob)
	return q.Encode(), err
}

func (c signingCredential) refused(container, blob string) bool {
	c.signer.InvalidateFor(container, blob)
	if c.onRefused != nil {
		c.onRefused()
	}
	return true
}

// tokenCredential appends a SAS token the user made.
type tokenCredential struct{ token *sas.Token }

func (c tokenCredential) query(string, string) (string, error) { return c.token.Query().Encode(), nil }
func (tokenCredential) refused(string, string) bool            { return false }

// anonymousCredential appends nothing: a public container.
type anonymousCredential struct{}

func (anonymousCredential) query(string, string) (string, error) { return "", nil }
func (anonymousCredential) refused(string, string) bool          { return false }

// resolveSecret expands {env.*} and {file.*} placeholders at provision. An
// empty result is an error that names the placeholder, never the value.
func resolveSecret(field, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	resolved, err := caddy.NewReplacer().ReplaceOrErr(value, true, true)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	resolved = strings.TrimSpace(resolved)
	if resolved == "" {
		return "", fmt.Errorf("%s: %s is empty", field, value)
	}
	return resolved, nil
}

// origin is where a transport's requests go and how they are authorized.
type origin struct {
	account  string
	scheme   string // of the endpoint: http for Azurite, https for Azure
	host     string // the endpoint's host[:port], sent as Host
	basePath string // the endpoint's path: "" on Azure, "/devstoreaccount1" on Azurite
	cred     credential
	token    *sas.Token // the sas_token, for its expiry
}

// provisionOrigin resolves the credential and the endpoint of t. Errors name
// the field at fault and never quote a secret.
func (t *Transport) provisionOrigin() (*origin, error) {
	key, err := resolveSecret("account_key", t.AccountKey)
	if err != nil {
		return nil, err
	}
	connStr, err := resolveSecret("connection_string", t.ConnectionString)
	if err != nil {
		return nil, err
	}
	token, err := resolveSecret("sas_token", t.SASToken)
	if err != nil {
		return nil, err
	}
	if err := exactlyOneCredential(key != "", connStr != "", token != "", t.Anonymous, t.Identity != nil); err != nil {
		return nil, err
	}
	addr, err := resolveAddress(t.Account, t.Endpoint, connStr)
	if err != nil {
		return nil, err
	}
	o := &origin{account: addr.account, scheme: addr.endpoint.Scheme, host: addr.endpoint.Host, basePath: addr.endpoint.Path}
	var sharedKey *sas.SharedKey
	var parsedToken *sas.Token
	if cs := addr.connStr; cs != nil {
		sharedKey, parsedToken = cs.Key, cs.SAS
		if sharedKey == nil && parsedToken == nil {
			return nil, errors.New("connection_string: has neither AccountKey nor SharedAccessSignature")
		}
	}

	switch {
	case key != "":
		if o.account == "" {
			return nil, errors.New("account: needed to sign with account_key (or give an endpoint that names it)")
		}
		if sharedKey, err = sas.NewSharedKey(o.account, key); err != nil {
			return nil, fmt.Errorf("account_key: %w", err)
		}
	case token != "":
		if parsedToken, err = sas.Parse(token); err != nil {
			return nil, fmt.Errorf("sas_token: %w", err)
		}
	}

	switch {
	case t.Identity != nil:
		if o.account == "" {
			return nil, errors.New("account: needed to sign with an identity (or give an endpoint that names it)")
		}
		if !strings.EqualFold(o.scheme, "https") {
			return nil, errors.New("identity: the endpoint must be https: an Entra ID token never crosses the network in clear")
		}
		signer, err := t.newDelegationSigner()
		if err != nil {
			return nil, err
		}
		o.cred = signingCredential{signer: signer, onRefused: func() {
			if t.keyring != nil {
				t.keyring.refresh()
			}
		}}
	case sharedKey != nil:
		signer, err := t.newSigner(sharedKey)
		if err != nil {
			return nil, err
		}
		o.cred = signingCredential{signer: signer}
	case t.signedOnly() != "":
		return nil, fmt.Errorf("%s: Azure applies it only from a token Caddy signs, so give account_key or a connection string with AccountKey "+
			"(with a sas_token or anonymous, set response headers with Caddy's header directive)", t.signedOnly())
	case parsedToken != nil:
		if err := checkToken(parsedToken, time.Now()); err != nil {
			return nil, err
		}
		o.cred, o.token = tokenCredential{parsedToken}, parsedToken
	default:
		o.cred = anonymousCredential{}
	}
	return o, nil
}

// originAddress is where an origin's blobs are: the account, its blob
// endpoint, and the connection string that named them, if any.
type originAddress struct {
	account  string
	endpoint *url.URL // scheme, host and path ("" on Azure, "/devstoreaccount1" on Azurite)
	connStr  *sas.ConnectionString
}

// resolveAddress resolves the account and endpoint fields (placeholders
// included) and reconciles them with connStr, an already resolved
// connection string or "". The transport signs for the account it returns
// and the azure_blob upstream source dials its endpoint, so both read the
// same inputs the same way. Errors name the field and never quote a
// secret.
func resolveAddress(accountField, endpointField, connStr string) (*originAddress, error) {
	account, err := caddy.NewReplacer().ReplaceOrErr(accountField, true, true)
	if err != nil && accountField != "" {
		return nil, fmt.Errorf("account: %w", err)
	}
	if account != "" {
		// Checked before it is quoted anywhere: a placeholder in the wrong
		// field may have put a key here.
		if err := sas.CheckAccountName(account); err != nil {
			return nil, fmt.Errorf("account: %w", err)
		}
	}
	endpoint, err := caddy.NewReplacer().ReplaceOrErr(endpointField, true, true)
	if err != nil && endpointField != "" {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	a := &originAddress{account: account}
	if connStr != "" {
		if a.connStr, err = sas.ParseConnectionString(connStr); err != nil {
			return nil, fmt.Errorf("connection_string: %w", err)
		}
		cs := a.connStr
		if a.account == "" {
			a.account = cs.AccountName
		} else if cs.AccountName != "" && cs.AccountName != a.account {
			// Both names passed CheckAccountName: neither is a secret.
			return nil, fmt.Errorf("account %q differs from the connection string's %q", a.account, cs.AccountName)
		}
		switch {
		case endpoint == "":
			endpoint = cs.BlobEndpoint
		case !sameEndpoint(endpoint, cs.BlobEndpoint):
			// Requests must not carry another account's Host and token to
			// the address dialed.
			return nil, errors.New("endpoint differs from the connection string's blob endpoint; give one of them")
		}
	}
	if endpoint == "" && a.account != "" {
		endpoint = "https://" + a.account + ".blob.core.windows.net"
	}
	if endpoint == "" {
		return nil, errors.New("endpoint: cannot tell where the storage account is: set account, endpoint or a connection string")
	}
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	a.endpoint = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimRight(u.Path, "/")}
	switch named := sas.AccountFromEndpoint(endpoint); {
	case named != "" && sas.CheckAccountName(named) != nil:
		return nil, errors.New("endpoint: names no valid account: give a blob endpoint such as https://<account>.blob.core.windows.net")
	case a.account == "":
		a.account = named
	case named != "" && named != a.account:
		// Tokens for one account sent to another's endpoint. Both names
		// passed CheckAccountName, so neither is a secret.
		return nil, fmt.Errorf("account %q differs from the account %q the endpoint names", a.account, named)
	}
	return a, nil
}

func exactlyOneCredential(key, connStr, token, anonymous, identity bool) error {
	var given []string
	for _, c := range []struct {
		set  bool
		name string
	}{{key, "account_key"}, {connStr, "connection_string"}, {token, "sas_token"}, {anonymous, "anonymous"}, {identity, "identity"}} {
		if c.set {
			given = append(given, c.name)
		}
	}
	switch len(given) {
	case 1:
		return nil
	case 0:
		return errors.New("credential: give one of account_key, connection_string, sas_token, identity or anonymous")
	}
	return fmt.Errorf("credential: give only one of account_key, connection_string, sas_token, identity or anonymous, not %s", strings.Join(given, " and "))
}

// parseEndpoint checks a blob endpoint. Its errors never quote it: a pasted
// SAS URL carries a sig.
func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("endpoint is not an http(s) URL with a host")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return nil, errors.New("endpoint must not carry a query, fragment or user info: give a SAS with sas_token")
	}
	return u, nil
}

// hostPort is u's host:port, with the scheme's default port when it has
// none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// sameEndpoint compares two endpoints, ignoring a trailing slash and the
// default port.
func sameEndpoint(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	return ua.Scheme == ub.Scheme && strings.EqualFold(hostPort(ua), hostPort(ub)) &&
		strings.TrimRight(ua.Path, "/") == strings.TrimRight(ub.Path, "/")
}

// checkToken refuses a sas_token that cannot serve blob reads: expired, or
// an account SAS without the blob service or object access.
func checkToken(tok *sas.Token, now time.Time) error {
	if !tok.Expiry.IsZero() && !tok.Expiry.After(now) {
		return fmt.Errorf("sas_token: expired at %s", tok.Expiry.Format(time.RFC3339))
	}
	if tok.Kind == sas.KindAccount && (tok.Services&sas.ServiceBlob == 0 || tok.ResourceTypes&sas.ResourceTypeObject == 0) {
		return errors.New("sas_token: an account SAS must cover the blob service (ss has b) and objects (srt has o)")
	}
	return nil
}

// signedOnly names the first option that only a signed token can carry,
// or "".
func (t *Transport) signedOnly() string {
	for _, f := range []struct{ name, value string }{
		{"policy", t.Policy}, {"cache_control", t.CacheControl}, {"content_type", t.ContentType},
		{"content_disposition", t.ContentDisposition}, {"content_encoding", t.ContentEncoding}, {"content_language", t.ContentLanguage},
	} {
		if f.value != "" {
			return f.name
		}
	}
	return ""
}

// newDelegationSigner signs user-delegation tokens with the keyring's
// current key; the keyring is set once the transport is provisioned.
func (t *Transport) newDelegationSigner() (*sas.Signer, error) {
	resource := sas.ResourceBlob
	if t.Scope == scopeContainer {
		resource = sas.ResourceContainer
	}
	v := sas.ServiceValues{
		Version: t.Version, Resource: resource, Permissions: sas.PermRead, Container: t.Container,
		CacheControl: t.CacheControl, ContentType: t.ContentType,
		ContentDisposition: t.ContentDisposition, ContentEncoding: t.ContentEncoding, ContentLanguage: t.ContentLanguage,
	}
	keys := func() (*sas.DelegationKey, error) {
		if t.keyring == nil {
			return nil, errors.New("no user delegation key yet")
		}
		return t.keyring.key()
	}
	return sas.NewDelegationSigner(keys, v, sas.SignerOptions{TTL: time.Duration(t.TTL), RenewBefore: time.Duration(t.RenewBefore)})
}

func (t *Transport) newSigner(key *sas.SharedKey) (*sas.Signer, error) {
	resource := sas.ResourceBlob
	if t.Scope == scopeContainer {
		resource = sas.ResourceContainer
	}
	v := sas.ServiceValues{
		Version: t.Version, Resource: resource, Permissions: sas.PermRead, Container: t.Container,
		Identifier: t.Policy, CacheControl: t.CacheControl, ContentType: t.ContentType,
		ContentDisposition: t.ContentDisposition, ContentEncoding: t.ContentEncoding, ContentLanguage: t.ContentLanguage,
	}
	if t.Policy != "" {
		v.Permissions = 0 // the policy grants them: Azure refuses a token that repeats a field the policy sets
	}
	signer, err := sas.NewSigner(key, v, sas.SignerOptions{TTL: time.Duration(t.TTL), RenewBefore: time.Duration(t.RenewBefore)})
	if err != nil {
		return nil, err
	}
	return signer, nil
}
