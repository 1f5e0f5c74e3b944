package caddymodule

import (
	"errors"
	"fmt"
	"mime"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Scopes of the signed tokens.
const (
	scopeBlob      = "blob"
	scopeContainer = "container"
)

// ReadOrigin is an Origin and how its blobs are read: the scope, lifetime
// and policy of the read tokens, the response headers signed into them,
// and what is done to Azure's answers. The azure_blob transport embeds
// it and a redirect holds one; each builds its own reader from it.
type ReadOrigin struct {
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

// fields are where ro's options go.
func (ro *ReadOrigin) fields() optionFields {
	return optionFields{origin: &ro.Origin, headers: &ro.HeaderOverrides, reads: ro}
}

// setDefaults fills in what the configuration left out.
func (ro *ReadOrigin) setDefaults() {
	if ro.TTL == 0 {
		ro.TTL = caddy.Duration(time.Hour)
	}
	if ro.Scope == "" {
		ro.Scope = scopeBlob
	}
	if ro.Version == "" {
		ro.Version = sas.DefaultVersion
	}
}

// validate checks the options that need no resolving.
func (ro *ReadOrigin) validate() error {
	if err := ro.Origin.validate(); err != nil {
		return err
	}
	switch ro.Scope {
	case "", scopeBlob, scopeContainer:
	default:
		return errors.New("scope must be blob or container")
	}
	if err := ro.checkUserContent(); err != nil {
		return err
	}
	if ro.Identity != nil && ro.Policy != "" {
		return errors.New("policy: a user-delegation token (identity) cannot name a stored access policy")
	}
	ttl, renew := time.Duration(ro.TTL), time.Duration(ro.RenewBefore)
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

// checkUserContent refuses a content_type that user_content would not
// serve: a type it does not serve inline would be replaced on every blob.
func (ro *ReadOrigin) checkUserContent() error {
	if !ro.UserContent || ro.ContentType == "" {
		return nil
	}
	if mediaType, _, err := mime.ParseMediaType(ro.ContentType); err != nil || !inlineTypes[mediaType] {
		return errors.New("content_type: user_content serves only images (not SVG), audio and video as their type, " +
			"and anything else as an application/octet-stream attachment: give one of those types, or leave content_type out")
	}
	return nil
}

// signedOnly names the first option that only a signed token can carry,
// or "".
func (ro *ReadOrigin) signedOnly() string {
	for _, o := range originOptions {
		if o.kind&signedOnlyOption != 0 && isSetField(o.in(ro.fields())) {
			return o.name
		}
	}
	return ""
}

// readCredential is how ro's reads are authorized with a, signed with ro's
// scope, policy, header overrides and lifetimes when a can sign.
func (ro *ReadOrigin) readCredential(a *authority) (credential, error) {
	switch {
	case a.canSign():
		resource := sas.ResourceBlob
		if ro.Scope == scopeContainer {
			resource = sas.ResourceContainer
		}
		template := sas.ServiceValues{Resource: resource, Permissions: sas.PermRead, Container: ro.Container, Identifier: ro.Policy}
		ro.HeaderOverrides.signInto(&template)
		if ro.Policy != "" {
			template.Permissions = 0 // the policy grants them: Azure refuses a token that repeats a field the policy sets
		}
		return a.signingCredential(template, ro.signerOptions())
	case ro.signedOnly() != "":
		return nil, fmt.Errorf("%s: Azure applies it only from a token Caddy signs, so give account_key or a connection string with AccountKey "+
			"(with a sas_token or anonymous, set response headers with Caddy's header directive)", ro.signedOnly())
	case a.token != nil:
		if err := checkToken(a.tokenField, a.token, time.Now()); err != nil {
			return nil, err
		}
		return tokenCredential{a.token}, nil
	}
	return anonymousCredential{}, nil
}

// signerOptions are the lifetimes of ro's tokens.
func (ro *ReadOrigin) signerOptions() sas.SignerOptions {
	return sas.SignerOptions{TTL: time.Duration(ro.TTL), RenewBefore: time.Duration(ro.RenewBefore)}
}

// checkAtAdapt runs the checks that need no secrets: all of them when every
// credential field is literal, else the ones on the configuration's shape.
func (ro ReadOrigin) checkAtAdapt() error {
	// ro is a copy, with the defaults Provision would apply: the adapted
	// JSON keeps only what the user wrote.
	ro.setDefaults()
	if err := ro.validate(); err != nil {
		return err
	}
	auth, err := ro.authorizeAtAdapt()
	if auth == nil || err != nil {
		return err
	}
	_, err = ro.readCredential(auth)
	return err
}
