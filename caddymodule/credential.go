package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// credential authorizes upstream requests: it returns the token to append
// for a container and blob (zero for none), and forgets a token Azure
// refused.
type credential interface {
	token(container, blob string) (sas.Token, error)
	// tokenWithHeaders is token with response header overrides of its
	// own; only a credential that signs has it.
	tokenWithHeaders(container, blob string, h sas.ResponseHeaders) (sas.Token, error)
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

func (c signingCredential) token(container, blob string) (sas.Token, error) {
	return c.signer.TokenFor(container, blob)
}

func (c signingCredential) tokenWithHeaders(container, blob string, h sas.ResponseHeaders) (sas.Token, error) {
	return c.signer.TokenWithHeaders(container, blob, h)
}

func (c signingCredential) refused(container, blob string) bool {
	c.signer.InvalidateFor(container, blob)
	if c.onRefused != nil {
		c.onRefused()
	}
	return true
}

// tokenCredential appends a SAS token the user made.
type tokenCredential struct{ parsed *sas.ParsedToken }

func (c tokenCredential) token(string, string) (sas.Token, error) { return c.parsed.Token(), nil }
func (tokenCredential) refused(string, string) bool               { return false }
func (tokenCredential) tokenWithHeaders(string, string, sas.ResponseHeaders) (sas.Token, error) {
	return sas.Token{}, errNothingToSignWith
}

// anonymousCredential appends nothing: a public container.
type anonymousCredential struct{}

func (anonymousCredential) token(string, string) (sas.Token, error) { return sas.Token{}, nil }
func (anonymousCredential) refused(string, string) bool             { return false }
func (anonymousCredential) tokenWithHeaders(string, string, sas.ResponseHeaders) (sas.Token, error) {
	return sas.Token{}, errNothingToSignWith
}

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

// blobService is the blob service of one account that a transport reads:
// where its requests go and how they are authorized.
type blobService struct {
	account  string
	endpoint sas.BlobEndpoint
	cred     credential
	key      *sas.SharedKey   // the account key, when one signs
	token    *sas.ParsedToken // the sas_token, for its expiry
}

// provisionService resolves the credential and the endpoint of t. Errors name
// the field at fault and never quote a secret.
func (t *Transport) provisionService() (*blobService, error) {
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
	if err := t.exactlyOneCredential(); err != nil {
		return nil, err
	}
	loc, cs, err := resolveLocation(t.Account, t.Endpoint, connStr)
	if err != nil {
		return nil, err
	}
	svc := &blobService{account: loc.Account, endpoint: loc.Endpoint}
	var sharedKey *sas.SharedKey
	var parsedToken *sas.ParsedToken
	if cs != nil {
		sharedKey, parsedToken = cs.Key, cs.SAS
		if sharedKey == nil && parsedToken == nil {
			return nil, errors.New("connection_string: has neither AccountKey nor SharedAccessSignature")
		}
	}

	switch {
	case key != "":
		if svc.account == "" {
			return nil, errors.New("account: needed to sign with account_key (or give an endpoint that names it)")
		}
		if sharedKey, err = sas.NewSharedKey(svc.account, key); err != nil {
			return nil, fmt.Errorf("account_key: %w", err)
		}
	case token != "":
		if parsedToken, err = sas.Parse(token); err != nil {
			return nil, fmt.Errorf("sas_token: %w", err)
		}
	}

	if err := t.checkScheme(loc.Endpoint, sharedKey); err != nil {
		return nil, err
	}
	switch {
	case t.Identity != nil:
		if svc.account == "" {
			return nil, errors.New("account: needed to sign with an identity (or give an endpoint that names it)")
		}
		signer, err := t.newDelegationSigner(svc.endpoint)
		if err != nil {
			return nil, err
		}
		svc.cred = signingCredential{signer: signer, onRefused: func() {
			if t.keyring != nil {
				t.keyring.refresh()
			}
		}}
	case sharedKey != nil:
		signer, err := t.newSigner(sharedKey, svc.endpoint)
		if err != nil {
			return nil, err
		}
		svc.cred, svc.key = signingCredential{signer: signer}, sharedKey
	case t.signedOnly() != "":
		return nil, fmt.Errorf("%s: Azure applies it only from a token Caddy signs, so give account_key or a connection string with AccountKey "+
			"(with a sas_token or anonymous, set response headers with Caddy's header directive)", t.signedOnly())
	case parsedToken != nil:
		field := "sas_token"
		if token == "" {
			field = "connection_string" // its SharedAccessSignature
		}
		if err := checkToken(field, parsedToken, time.Now()); err != nil {
			return nil, err
		}
		svc.cred, svc.token = tokenCredential{parsedToken}, parsedToken
	default:
		svc.cred = anonymousCredential{}
	}
	return svc, nil
}

// resolveLocation resolves the account and endpoint fields (placeholders
// included) and reconciles them with connStr, an already resolved
// connection string or "". The transport signs for the account it returns
// and the azure_blob upstream source dials its endpoint, so both read the
// same inputs the same way. Errors name the field and never quote a
// secret.
func resolveLocation(accountField, endpointField, connStr string) (sas.Location, *sas.ConnectionString, error) {
	account, err := caddy.NewReplacer().ReplaceOrErr(accountField, true, true)
	if err != nil && accountField != "" {
		return sas.Location{}, nil, fmt.Errorf("account: %w", err)
	}
	endpoint, err := caddy.NewReplacer().ReplaceOrErr(endpointField, true, true)
	if err != nil && endpointField != "" {
		return sas.Location{}, nil, fmt.Errorf("endpoint: %w", err)
	}
	where := sas.Where{Account: account, Endpoint: endpoint,
		AccountSetting: "account", EndpointSetting: "endpoint", ConnectionStringSetting: "connection_string"}
	if connStr != "" {
		if where.ConnectionString, err = sas.ParseConnectionString(connStr); err != nil {
			return sas.Location{}, nil, fmt.Errorf("connection_string: %w", err)
		}
	}
	loc, err := sas.Locate(where)
	return loc, where.ConnectionString, err
}

// exactlyOneCredential checks that t gives one credential option.
func (t *Transport) exactlyOneCredential() error {
	var given []string
	for _, o := range originOptions {
		if o.kind&credentialOption != 0 && o.isSet(t) {
			given = append(given, o.name)
		}
	}
	if len(given) == 1 {
		return nil
	}
	choice := optionsOfKind(credentialOption)
	if len(given) == 0 {
		return errors.New("credential: give one of " + choice)
	}
	return fmt.Errorf("credential: give only one of %s, not %s", choice, strings.Join(given, " and "))
}

// checkToken refuses a ready-made token, given as field, that cannot serve
// blob reads: expired, an account SAS without the blob service or object
// access, or one whose permissions (sp) lack read, which Azure would answer
// with AuthorizationPermissionMismatch on every request. One whose
// permissions come from a stored access policy cannot be judged. Errors
// quote sp and the expiry, never the token.
func checkToken(field string, tok *sas.ParsedToken, now time.Time) error {
	if !tok.Expiry.IsZero() && !tok.Expiry.After(now) {
		return fmt.Errorf("%s: expired at %s", field, tok.Expiry.Format(time.RFC3339))
	}
	if tok.Kind == sas.KindAccount && (tok.Services&sas.ServiceBlob == 0 || tok.ResourceTypes&sas.ResourceTypeObject == 0) {
		return fmt.Errorf("%s: an account SAS must cover the blob service (ss has b) and objects (srt has o)", field)
	}
	read := tok.Permissions.Has(sas.PermRead)
	if tok.Kind == sas.KindAccount {
		read = tok.AccountPerms&sas.AccountRead != 0
	}
	if sp := tok.PermissionString(); sp != "" && !read {
		return fmt.Errorf("%s: the token does not grant read (sp=%s has no r), so Azure would refuse every request "+
			"(AuthorizationPermissionMismatch); give one signed with sp=r, e.g. by "+
			"caddy azure-sas sign --container <name> --permissions r --expiry <lifetime> --token-only", field, sp)
	}
	return nil
}

// signedOnly names the first option that only a signed token can carry,
// or "".
func (t *Transport) signedOnly() string {
	for _, o := range originOptions {
		if o.kind&signedOnlyOption != 0 && o.isSet(t) {
			return o.name
		}
	}
	return ""
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

// newDelegationSigner signs user-delegation tokens for endpoint with the
// keyring's current key; the keyring is set once the transport is
// provisioned.
func (t *Transport) newDelegationSigner(endpoint sas.BlobEndpoint) (*sas.Signer, error) {
	resource := sas.ResourceBlob
	if t.Scope == scopeContainer {
		resource = sas.ResourceContainer
	}
	v := sas.ServiceValues{Version: t.Version, Resource: resource, Permissions: sas.PermRead, Container: t.Container,
		Protocol: signedProtocol(endpoint, t.Version)}
	t.HeaderOverrides.signInto(&v)
	keys := func() (*sas.DelegationKey, error) {
		if t.keyring == nil {
			return nil, errors.New("no user delegation key yet")
		}
		return t.keyring.key()
	}
	return sas.NewDelegationSigner(keys, v, sas.SignerOptions{TTL: time.Duration(t.TTL), RenewBefore: time.Duration(t.RenewBefore)})
}

// newSigner signs tokens for endpoint with the account key.
func (t *Transport) newSigner(key *sas.SharedKey, endpoint sas.BlobEndpoint) (*sas.Signer, error) {
	resource := sas.ResourceBlob
	if t.Scope == scopeContainer {
		resource = sas.ResourceContainer
	}
	v := sas.ServiceValues{Version: t.Version, Resource: resource, Permissions: sas.PermRead, Container: t.Container, Identifier: t.Policy,
		Protocol: signedProtocol(endpoint, t.Version)}
	t.HeaderOverrides.signInto(&v)
	if t.Policy != "" {
		v.Permissions = 0 // the policy grants them: Azure refuses a token that repeats a field the policy sets
	}
	signer, err := sas.NewSigner(key, v, sas.SignerOptions{TTL: time.Duration(t.TTL), RenewBefore: time.Duration(t.RenewBefore)})
	if err != nil {
		return nil, err
	}
	return signer, nil
}

// errNothingToSignWith: the credential is a sas_token or anonymous.
var errNothingToSignWith = errors.New("signing needs account_key, a connection string with AccountKey, or identity: a sas_token or anonymous has nothing to sign with")

// sign signs v, with its expiry set, with the account key or the
// identity's current user delegation key, for the transport's version and
// endpoint (spr=https on an https one); azure_sas issues what it signs. A
// token never outlives the user delegation key that signs it, so one the
// key cannot cover is refused rather than shortened.
func (t *Transport) sign(v *sas.ServiceValues) (sas.Token, error) {
	v.Version = t.Version
	v.Protocol = signedProtocol(t.service.endpoint, t.Version)
	switch {
	case t.service.key != nil:
		return v.Sign(t.service.key)
	case t.keyring != nil:
		d, err := t.keyring.key()
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
