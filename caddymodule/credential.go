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
	return c.signer.Token(container, blob)
}

func (c signingCredential) tokenWithHeaders(container, blob string, h sas.ResponseHeaders) (sas.Token, error) {
	return c.signer.TokenWithHeaders(container, blob, h)
}

func (c signingCredential) refused(container, blob string) bool {
	c.signer.Invalidate(container, blob)
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
	where := sas.Where{Account: account, Endpoint: endpoint}
	if connStr != "" {
		if where.ConnectionString, err = sas.ParseConnectionString(connStr); err != nil {
			return sas.Location{}, nil, fmt.Errorf("connection_string: %w", err)
		}
	}
	loc, err := locate(where, originSettings)
	return loc, where.ConnectionString, err
}

// settingNames name the settings of a sas.Where as a user wrote them: the
// account, the endpoint and the connection string.
type settingNames [3]string

// originSettings are the names of the Caddyfile options and JSON fields.
var originSettings = settingNames{"account", "endpoint", "connection_string"}

// locate is sas.Locate with errors that name the settings as names does.
func locate(w sas.Where, names settingNames) (sas.Location, error) {
	loc, err := sas.Locate(w)
	if where, ok := errors.AsType[*sas.LocateError](err); ok {
		return loc, errors.New(where.Rename(func(s sas.Setting) string { return names[s] }))
	}
	return loc, err
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
