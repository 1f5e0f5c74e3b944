package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/caddyserver/caddy/v2"
)

// Kinds of Microsoft Entra ID credential an identity can be.
const (
	identityDefault           = "default"
	identityManaged           = "managed"
	identityWorkload          = "workload"
	identityClientSecret      = "client_secret"
	identityClientCertificate = "client_certificate"
	identityAzureCLI          = "azure_cli"
)

// errIdentityKind does not quote the kind given: it may be a secret
// written in the wrong place.
var errIdentityKind = errors.New("identity kind must be default, managed, workload, client_secret, client_certificate or azure_cli")

// Identity signs in to Microsoft Entra ID to get user delegation keys, so
// that tokens are signed without an account key. The identity needs the
// roles Storage Blob Delegator and Storage Blob Data Reader on the account
// (or container). Tokens come from the Azure SDK's azidentity.
type Identity struct {
	// Kind is default (Azure's usual chain: environment, workload identity,
	// managed identity, Azure CLI …), managed, workload, client_secret,
	// client_certificate or azure_cli.
	Kind string `json:"kind,omitempty"`

	// ClientID picks a user-assigned managed identity, or names the app
	// registration (client_secret, client_certificate; workload defaults to
	// AZURE_CLIENT_ID).
	ClientID string `json:"client_id,omitempty"`

	// TenantID is the app registration's tenant (client_secret,
	// client_certificate; workload defaults to AZURE_TENANT_ID).
	TenantID string `json:"tenant_id,omitempty"`

	// ClientSecret is the app registration's secret; write it as
	// {env.VAR} or {file.path}.
	ClientSecret string `json:"client_secret,omitempty"`

	// CertificateFile is a PEM or PKCS#12 file holding the app
	// registration's certificate and its unencrypted RSA private key.
	CertificateFile string `json:"certificate_file,omitempty"`

	// TokenFile is workload identity's federated token file. Default:
	// AZURE_FEDERATED_TOKEN_FILE, as AKS sets it.
	TokenFile string `json:"token_file,omitempty"`

	// AuthorityHost is the Entra ID (or AD FS) authority of a sovereign,
	// private or disconnected cloud, e.g. https://login.microsoftonline.us/.
	// Sign-in then skips instance discovery and trusts what the transport
	// trusts (tls_trust_pool), as such clouds share a private CA. Default:
	// AZURE_AUTHORITY_HOST, or Azure's public cloud.
	AuthorityHost string `json:"authority_host,omitempty"`

	// KeyLifetime is how long each user delegation key lives (Azure allows
	// 7 days at most); it is renewed when a quarter of it is left. Default:
	// 1 day.
	KeyLifetime caddy.Duration `json:"key_lifetime,omitempty"`
}

// validate checks what needs no resolving; a nil identity is valid.
func (id *Identity) validate() error {
	switch {
	case id == nil:
		return nil
	case id.Kind == identityClientSecret && (id.TenantID == "" || id.ClientID == "" || id.ClientSecret == ""):
		return errors.New("identity client_secret needs tenant_id, client_id and client_secret")
	case id.Kind == identityClientCertificate && (id.TenantID == "" || id.ClientID == "" || id.CertificateFile == ""):
		return errors.New("identity client_certificate needs tenant_id, client_id and certificate_file")
	case id.AuthorityHost != "" && (id.Kind == identityManaged || id.Kind == identityAzureCLI):
		return fmt.Errorf("identity %s: authority_host does not apply (the %s signs in on its own)", id.Kind,
			map[string]string{identityManaged: "managed-identity endpoint", identityAzureCLI: "Azure CLI"}[id.Kind])
	case id.KeyLifetime < 0 || time.Duration(id.KeyLifetime) > maxKeyLifetime:
		return fmt.Errorf("identity key_lifetime %s must be positive and at most 7 days", time.Duration(id.KeyLifetime))
	}
	switch id.Kind {
	case identityDefault, identityManaged, identityWorkload, identityClientSecret, identityClientCertificate, identityAzureCLI:
		return nil
	}
	return errIdentityKind
}

// tokenCredential resolves the identity's placeholders and makes the
// azidentity credential; client carries sign-in to a custom authority.
// Errors name the field, never a secret.
func (id *Identity) tokenCredential(client *http.Client) (azcore.TokenCredential, error) {
	secret, err := resolveSecret("identity client_secret", id.ClientSecret)
	if err != nil {
		return nil, err
	}
	var opts azcore.ClientOptions
	custom := id.AuthorityHost != "" || os.Getenv("AZURE_AUTHORITY_HOST") != ""
	if custom {
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: id.AuthorityHost}
		opts.Transport = client
	}
	var cred azcore.TokenCredential
	switch id.Kind {
	case identityDefault:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	case identityManaged:
		mi := &azidentity.ManagedIdentityCredentialOptions{}
		if id.ClientID != "" {
			mi.ID = azidentity.ClientID(id.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mi)
	case identityWorkload:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts,
			ClientID: id.ClientID, TenantID: id.TenantID, TokenFilePath: id.TokenFile, DisableInstanceDiscovery: custom})
	case identityClientSecret:
		if secret == "" {
			return nil, errors.New("identity client_secret: the secret is empty")
		}
		cred, err = azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	case identityClientCertificate:
		pem, readErr := os.ReadFile(id.CertificateFile)
		if readErr != nil {
			return nil, fmt.Errorf("identity certificate_file: %v", readErr)
		}
		certs, key, parseErr := azidentity.ParseCertificates(pem, nil)
		if parseErr != nil {
			return nil, errors.New("identity certificate_file: no certificate with an unencrypted RSA private key in it (PEM or PKCS#12)")
		}
		cred, err = azidentity.NewClientCertificateCredential(id.TenantID, id.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: custom})
	case identityAzureCLI:
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: id.TenantID})
	default:
		return nil, errIdentityKind
	}
	if err != nil {
		return nil, fmt.Errorf("identity %s: %v", id.Kind, err)
	}
	return cred, nil
}

// keyLifetime is how long each of the identity's user delegation keys
// lives.
func (id *Identity) keyLifetime() time.Duration {
	if id.KeyLifetime == 0 {
		return defaultKeyLifetime
	}
	return time.Duration(id.KeyLifetime)
}
