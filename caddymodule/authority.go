package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// authority signs for one origin and says where its blobs are: the account
// and endpoint its options resolve to, the signed service version, and the
// credential (an account key, an identity's user delegation keys, or a
// ready-made token that can only be appended). Each module that reaches a
// container builds its own from its Origin with newAuthority; none reads
// another module's.
type authority struct {
	account  string
	endpoint sas.BlobEndpoint
	version  string
	key      *sas.SharedKey   // the account key, when one signs
	identity *Identity        // else the identity whose keys sign
	token    *sas.ParsedToken // else a ready-made token
	// tokenField names the option the token came from, for errors.
	tokenField string

	keyring     *keyring // the identity's user delegation keys, once joined
	keyringName string
}

// newAuthority resolves o's secrets and address into its authority,
// signing for o's version (the default when it gives none). Errors name
// the option at fault and never quote a secret. It needs no network: an
// identity's keys are asked for by the keyring that joinKeyringThrough
// starts, when a request first needs one.
func newAuthority(o *Origin) (*authority, error) {
	version := o.Version
	if version == "" {
		version = sas.DefaultVersion
	}
	key, err := resolveSecret("account_key", o.AccountKey)
	if err != nil {
		return nil, err
	}
	connStr, err := resolveSecret("connection_string", o.ConnectionString)
	if err != nil {
		return nil, err
	}
	token, err := resolveSecret("sas_token", o.SASToken)
	if err != nil {
		return nil, err
	}
	if err := o.exactlyOneCredential(); err != nil {
		return nil, err
	}
	loc, cs, err := resolveLocation(o.Account, o.Endpoint, connStr)
	if err != nil {
		return nil, err
	}
	a := &authority{account: loc.Account, endpoint: loc.Endpoint, version: version, identity: o.Identity, tokenField: "sas_token"}
	if cs != nil {
		a.key, a.token, a.tokenField = cs.Key, cs.SAS, "connection_string" // its SharedAccessSignature
		if a.key == nil && a.token == nil {
			return nil, errors.New("connection_string: has neither AccountKey nor SharedAccessSignature")
		}
	}
	switch {
	case key != "":
		if a.account == "" {
			return nil, errors.New("account: needed to sign with account_key (or give an endpoint that names it)")
		}
		if a.key, err = sas.NewSharedKey(a.account, key); err != nil {
			return nil, fmt.Errorf("account_key: %w", err)
		}
	case token != "":
		if a.token, err = sas.Parse(token); err != nil {
			return nil, fmt.Errorf("sas_token: %w", err)
		}
	}
	if a.key != nil {
		a.token = nil // a connection string with both: the key signs
	}
	if err := o.checkScheme(a.endpoint, a.key); err != nil {
		return nil, err
	}
	if a.identity != nil && a.account == "" {
		return nil, errors.New("account: needed to sign with an identity (or give an endpoint that names it)")
	}
	return a, nil
}

// blobRequest is a request of method for a blob at the authority's
// endpoint, in its version, with the header h (nil for none). The sender
// adds the token.
func (a *authority) blobRequest(ctx context.Context, method, container, blob string, h http.Header) *http.Request {
	e := a.endpoint
	target := &url.URL{Scheme: e.Scheme, Host: e.HostPort()}
	target.Path, target.RawPath = e.BlobPath(container, blob)
	if h == nil {
		h = make(http.Header)
	}
	h.Set("x-ms-version", a.version)
	return (&http.Request{Method: method, URL: target, Host: e.Host, Header: h}).WithContext(ctx)
}

// canSign reports whether a signs tokens: with an account key or an
// identity, not a ready-made token or none.
func (a *authority) canSign() bool {
	return a.key != nil || a.identity != nil
}

// joinKeyringThrough joins the keyring of a's identity, shared by every
// authority with the same account, identity and connection settings,
// starting one that asks for keys through conn, a provisioned http
// transport (TLS trust, proxy, timeouts), when there is none. It asks for
// no key itself.
func (a *authority) joinKeyringThrough(conn *reverseproxy.HTTPTransport, logger *zap.Logger) error {
	if a.identity == nil {
		return nil
	}
	connection, err := json.Marshal(conn)
	if err != nil {
		return fmt.Errorf("identity: %v", err)
	}
	k, name, err := loadKeyring(a.endpoint, a.account, a.identity, connection, &http.Client{Transport: conn.Transport}, logger)
	if err != nil {
		return err
	}
	a.keyring, a.keyringName = k, name
	return nil
}

// provisionConnection provisions h (a new one when nil), the http transport
// that reaches endpoint: TLS for an https endpoint, the timeouts media
// needs, and no compression, so blobs go out as stored (a gzip blob keeps
// its Content-Encoding, ETag and length instead of being unpacked on the
// way).
func provisionConnection(ctx caddy.Context, h *reverseproxy.HTTPTransport, endpoint sas.BlobEndpoint) (*reverseproxy.HTTPTransport, error) {
	if h == nil {
		h = new(reverseproxy.HTTPTransport)
	}
	if endpoint.Scheme == "https" && h.TLS == nil {
		h.TLS = new(reverseproxy.TLSConfig)
	}
	setTimeoutDefaults(h)
	if h.Compression == nil {
		off := false
		h.Compression = &off
	}
	if err := h.Provision(ctx); err != nil {
		return nil, fmt.Errorf("http transport: %v", err)
	}
	return h, nil
}

// connect provisions conn (a new one when nil) as the way to a's endpoint,
// and joins an identity's keyring through it: keys are asked for with the
// same TLS trust, proxy and timeouts as the blobs.
func (a *authority) connect(ctx caddy.Context, conn *reverseproxy.HTTPTransport, logger *zap.Logger) (*reverseproxy.HTTPTransport, error) {
	conn, err := provisionConnection(ctx, conn, a.endpoint)
	if err != nil {
		return nil, err
	}
	if err := a.joinKeyringThrough(conn, logger); err != nil {
		_ = conn.Cleanup()
		return nil, err
	}
	return conn, nil
}

// release lets go of a's keyring; it also works on a partly built one.
func (a *authority) release() {
	if a != nil && a.keyringName != "" {
		_, _ = keyrings.Delete(a.keyringName)
	}
}

// errNothingToSignWith: the credential is a sas_token or anonymous.
var errNothingToSignWith = errors.New("signing needs account_key, a connection string with AccountKey, or identity: a sas_token or anonymous has nothing to sign with")

// sign signs v, with its expiry set, with the account key or the
// identity's current user delegation key, for a's version and endpoint
// (spr=https on an https one). A token never outlives the user delegation
// key that signs it, so one the key cannot cover is refused rather than
// shortened.
func (a *authority) sign(v *sas.ServiceValues) (sas.Token, error) {
	v.Version = a.version
	v.Protocol = signedProtocol(a.endpoint, a.version)
	switch {
	case a.key != nil:
		return v.Sign(a.key)
	case a.keyring != nil:
		d, err := a.keyring.key()
		if err != nil {
			return sas.Token{}, err
		}
		if d.Expiry().Before(v.Expiry) {
			return sas.Token{}, errors.New("the user delegation key expires before the lifetime asked for")
		}
		return v.SignWithUserDelegation(d)
	}
	return sas.Token{}, errNothingToSignWith
}

// signer makes a signer, with its cache, of the tokens template describes
// (a's version and protocol set), with the account key or the keyring's
// current key. It needs canSign.
func (a *authority) signer(template sas.ServiceValues, opts sas.SignerOptions) (*sas.Signer, error) {
	template.Version = a.version
	template.Protocol = signedProtocol(a.endpoint, a.version)
	if a.key != nil {
		return sas.NewSigner(a.key, template, opts)
	}
	keys := func() (*sas.DelegationKey, error) {
		if a.keyring == nil {
			return nil, errors.New("no user delegation key yet")
		}
		return a.keyring.key()
	}
	return sas.NewDelegationSigner(keys, template, opts)
}

// signingCredential is a credential that signs, with a cache, the tokens
// template describes; a token Azure refuses asks an identity's keyring for
// a new key. It needs canSign.
func (a *authority) signingCredential(template sas.ServiceValues, opts sas.SignerOptions) (credential, error) {
	signer, err := a.signer(template, opts)
	if err != nil {
		return nil, err
	}
	cred := signingCredential{signer: signer}
	if a.identity != nil {
		cred.onRefused = func() {
			if a.keyring != nil {
				a.keyring.refresh()
			}
		}
	}
	return cred, nil
}

// signedProtocol is the spr of the tokens signed for endpoint: https only
// when the endpoint is https, so that a token copied out of a URL is
// refused over plain http; unrestricted for an http endpoint (Azurite on
// loopback), and for a version before 2015-04-05, which cannot sign spr.
func signedProtocol(endpoint sas.BlobEndpoint, version string) sas.Protocol {
	const firstWithProtocol = "2015-04-05" // versions are dates: they sort as strings
	if endpoint.Scheme == "https" && version >= firstWithProtocol {
		return sas.ProtocolHTTPS
	}
	return sas.ProtocolAny
}
