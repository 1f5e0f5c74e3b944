package caddymodule

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Origin is where blobs are and what authorizes Caddy there: a storage
// account, its blob endpoint, a container and one credential. The modules
// that reach a container embed it (the azure_blob transport, azure_sas),
// so they read the same JSON fields and Caddyfile options, from the same
// option table, and build their authority from it the same way.
type Origin struct {
	// Account is the storage account name. Default: from the connection
	// string or the endpoint.
	Account string `json:"account,omitempty"`

	// Endpoint is the blob service URL; a path-style one works, e.g.
	// Azurite's http://127.0.0.1:10000/devstoreaccount1. Default:
	// https://<account>.blob.core.windows.net, or the connection string's.
	Endpoint string `json:"endpoint,omitempty"`

	// InsecureHTTP accepts a plain http endpoint on a private network you
	// trust: every token crosses it in clear text, and whoever reads one
	// can use it until it expires. Without it, plain http is refused except
	// on loopback and when Caddy signs with Azurite's published development
	// key (devstoreaccount1), whose tokens hold no secret. It trusts the
	// network between Caddy and Azure only: a redirect, which hands tokens
	// to clients, still refuses plain http, and an identity always needs
	// https.
	InsecureHTTP bool `json:"insecure_http,omitempty"`

	// Container holds the blobs. The azure_blob transport without one
	// reads any container a request's path names; every other module needs
	// one.
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

	// Version is the signed service version (sv), also sent as
	// x-ms-version. Default: the newest that Azure and Azurite both accept.
	Version string `json:"version,omitempty"`

	// Caddyfile is where the Caddyfile wrote this origin, as file:line
	// (Caddyfile:12); the Caddyfile adapter sets it, so that an error at
	// provision, such as an {env.*} that is empty, says which block it is
	// about.
	Caddyfile string `json:"caddyfile,omitempty"`
}

// where prefixes err with where the Caddyfile wrote o, when it did.
func (o *Origin) where(err error) error {
	if err == nil || o.Caddyfile == "" {
		return err
	}
	return fmt.Errorf("%s: %w", o.Caddyfile, err)
}

// validate checks what needs neither secrets nor the network.
func (o *Origin) validate() error {
	if o.Container != "" {
		if err := sas.CheckContainerName(o.Container); err != nil {
			return fmt.Errorf("container: %w", err)
		}
	}
	if err := o.checkLiteralEndpoint(); err != nil {
		return err
	}
	if err := checkVersion(o.Version); err != nil {
		return err
	}
	return o.Identity.validate()
}

// exactlyOneCredential checks that o gives one credential option.
func (o *Origin) exactlyOneCredential() error {
	var given []string
	for _, opt := range originOptions {
		if opt.kind&credentialOption != 0 && opt.onOrigin != nil && isSetField(opt.onOrigin(o)) {
			given = append(given, opt.name)
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

// warnLiteralSecret warns, when the config is provisioned, of a credential
// written without a placeholder; it never quotes the value.
func (o *Origin) warnLiteralSecret(logger *zap.Logger) {
	if field := o.literalSecret(); field != "" {
		logger.Warn(field + " is written literally: it is in the config, autosave.json and the admin API's GET /config/; " +
			"use {env.VAR} or {file.path}")
	}
}

// literalSecret names a credential written without a placeholder, or "".
func (o *Origin) literalSecret() string {
	for _, opt := range originOptions {
		if opt.kind&secretOption == 0 || opt.onOrigin == nil {
			continue
		}
		if name, value := secretValue(opt.name, opt.onOrigin(o)); isLiteralSecret(value) {
			return name
		}
	}
	return ""
}

// authorizeAtAdapt builds o's authority while a Caddyfile is adapted, when
// every credential and locating option is literal. With a placeholder
// among them it checks only the configuration's shape (one credential),
// and returns no authority.
func (o *Origin) authorizeAtAdapt() (*authority, error) {
	if o.placeholderIn(credentialOption | locatingOption) {
		return nil, o.exactlyOneCredential()
	}
	return newAuthority(o)
}

// placeholderIn reports whether an option of o of the kind is a string that
// holds a placeholder: a value known only once the config is provisioned.
func (o *Origin) placeholderIn(kind optionKind) bool {
	for _, opt := range originOptions {
		if opt.onOrigin == nil || opt.kind&kind == 0 {
			continue
		}
		if v, ok := opt.onOrigin(o).(*string); ok && hasPlaceholder(*v) {
			return true
		}
	}
	return false
}

// hasPlaceholder reports whether v holds a placeholder, and so is known
// only once the config is provisioned (or, in a prefix, per request).
func hasPlaceholder(v string) bool {
	return strings.Contains(v, "{")
}

// checkVersion refuses a signed service version the plugin does not know.
func checkVersion(version string) error {
	if version != "" && !slices.Contains(sas.KnownVersions(), version) {
		known := sas.KnownVersions()
		return fmt.Errorf("version: not a known Azure Storage service version (oldest %s, newest %s)", known[0], known[len(known)-1])
	}
	return nil
}

// checkScheme refuses an endpoint that would carry o's tokens across a
// network in clear text. An identity always needs https: the Entra ID
// token that asks for its keys goes there too. Other credentials take plain
// http on loopback (sas.BlobEndpoint.Insecure), with Azurite's published
// development key (key, nil for other credentials: such tokens hold no
// secret), or anywhere with insecure_http.
func (o *Origin) checkScheme(e sas.BlobEndpoint, key *sas.SharedKey) error {
	switch {
	case e.Scheme == "https":
		return nil
	case o.Identity != nil:
		return errors.New("identity: the endpoint must be https: an Entra ID token never crosses the network in clear")
	case exposesTokens(e, key) && !o.InsecureHTTP:
		// The host is not quoted: a value in the wrong option may be a key.
		from := "endpoint"
		if o.Endpoint == "" {
			from = "connection_string's blob endpoint"
		}
		return errors.New(from + errPlainHTTP)
	}
	return nil
}

// checkLiteralEndpoint checks the scheme of an endpoint written without
// placeholders, so that adapting a Caddyfile refuses it even when the
// credential is a placeholder (newAuthority checks the rest). An
// endpoint of Azurite's development account is left to newAuthority
// (devAccountEndpoint).
func (o *Origin) checkLiteralEndpoint() error {
	if o.Endpoint == "" || hasPlaceholder(o.Endpoint) {
		return nil
	}
	e, err := sas.ParseBlobEndpoint(o.Endpoint)
	if err != nil || devAccountEndpoint(e) {
		return nil // newAuthority says what is wrong, naming the option
	}
	return o.checkScheme(e, nil)
}
