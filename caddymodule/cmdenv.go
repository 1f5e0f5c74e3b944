package caddymodule

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// The environment variables the azure-sas command reads its credential
// from; the names are those of the Azure CLI.
const (
	envConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	envAccount          = "AZURE_STORAGE_ACCOUNT"
	envKey              = "AZURE_STORAGE_KEY"
	envBlobEndpoint     = "AZURE_STORAGE_BLOB_ENDPOINT"
)

// errNoEnvCredential says where the key is looked for.
var errNoEnvCredential = fmt.Errorf("no credential in the environment: set %s (with AccountKey), or %s and %s "+
	"(and %s for Azurite or another endpoint); the key is never taken from a flag",
	envConnectionString, envAccount, envKey, envBlobEndpoint)

// signingKey is the account key the command signs with and the blob
// endpoint its URLs point at.
type signingKey struct {
	key      *sas.SharedKey
	endpoint *url.URL // scheme, host and base path ("" or "/devstoreaccount1")
}

// envCredential reads the credential from the process environment.
func envCredential() (*signingKey, error) {
	return credentialFrom(func(name string) string { return strings.TrimSpace(os.Getenv(name)) })
}

// credentialFrom reads the credential through getenv; an empty variable
// counts as unset. Errors name the variables and never quote a key.
func credentialFrom(getenv func(string) string) (*signingKey, error) {
	connStr, account, key, endpoint := getenv(envConnectionString), getenv(envAccount), getenv(envKey), getenv(envBlobEndpoint)
	if account != "" {
		// Checked before it is quoted anywhere: a key in the wrong
		// variable must not reach the terminal.
		if err := sas.CheckAccountName(account); err != nil {
			return nil, fmt.Errorf("%s: %w", envAccount, err)
		}
	}
	var shared *sas.SharedKey
	switch {
	case connStr != "":
		if key != "" {
			return nil, fmt.Errorf("both %s and %s are set; keep one", envConnectionString, envKey)
		}
		cs, err := sas.ParseConnectionString(connStr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envConnectionString, err)
		}
		if cs.Key == nil {
			return nil, fmt.Errorf("%s has no AccountKey: signing needs the account key, not a SAS", envConnectionString)
		}
		if account != "" && account != cs.AccountName {
			return nil, fmt.Errorf("%s %q differs from the account %q of %s", envAccount, account, cs.AccountName, envConnectionString)
		}
		if endpoint != "" && !sameEndpoint(endpoint, cs.BlobEndpoint) {
			return nil, fmt.Errorf("%s differs from the blob endpoint of %s; set one of them", envBlobEndpoint, envConnectionString)
		}
		shared, endpoint = cs.Key, cs.BlobEndpoint
	case key == "" && account == "" && endpoint == "":
		return nil, errNoEnvCredential
	case key == "":
		return nil, fmt.Errorf("%s is not set: the account key comes from it (or from %s with AccountKey), never from a flag",
			envKey, envConnectionString)
	default:
		if account == "" && endpoint != "" {
			account = sas.AccountFromEndpoint(endpoint)
		}
		if account == "" {
			return nil, fmt.Errorf("%s is not set: it names the account of %s", envAccount, envKey)
		}
		if endpoint == "" {
			endpoint = "https://" + account + ".blob.core.windows.net"
		} else if named := sas.AccountFromEndpoint(endpoint); named != "" && sas.CheckAccountName(named) != nil {
			return nil, fmt.Errorf("%s names no valid account", envBlobEndpoint)
		} else if named != "" && named != account {
			return nil, fmt.Errorf("%s %q differs from the account %q that %s names", envAccount, account, named, envBlobEndpoint)
		}
		var err error
		if shared, err = sas.NewSharedKey(account, key); err != nil {
			return nil, fmt.Errorf("%s and %s: %w", envAccount, envKey, err)
		}
	}
	u, err := commandEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	return &signingKey{key: shared, endpoint: u}, nil
}

// commandEndpoint checks a blob endpoint. Its errors never quote it: a
// pasted SAS URL carries a sig.
func commandEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%s is not an http(s) URL with a host", envBlobEndpoint)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%s must not carry a query, fragment or user info", envBlobEndpoint)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimRight(u.Path, "/")}, nil
}

// resourceURL is the URL of a container (blob "") or a blob, each segment
// of the blob name escaped on its own, with the token as its query.
func (k *signingKey) resourceURL(container, blob, token string) string {
	base := k.endpoint.Scheme + "://" + k.endpoint.Host
	basePath := k.endpoint.EscapedPath()
	if blob == "" {
		return base + basePath + "/" + container + "?" + token
	}
	_, rawPath := blobURLPath(basePath, container, blob)
	return base + rawPath + "?" + token
}
