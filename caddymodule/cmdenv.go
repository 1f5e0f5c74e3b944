package caddymodule

import (
	"fmt"
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
	key          *sas.SharedKey
	endpoint     sas.BlobEndpoint
	endpointFrom string // the variable the endpoint came from, for errors
}

// envCredential reads the credential from the process environment.
func envCredential() (*signingKey, error) {
	return credentialFrom(func(name string) string { return strings.TrimSpace(os.Getenv(name)) })
}

// credentialFrom reads the credential through getenv; an empty variable
// counts as unset. Errors name the variables and never quote a key.
func credentialFrom(getenv func(string) string) (*signingKey, error) {
	connStr, account, key, endpoint := getenv(envConnectionString), getenv(envAccount), getenv(envKey), getenv(envBlobEndpoint)
	where := sas.Where{Account: account, Endpoint: endpoint,
		AccountSetting: envAccount, EndpointSetting: envBlobEndpoint, ConnectionStringSetting: envConnectionString}
	switch {
	case connStr != "" && key != "":
		return nil, fmt.Errorf("both %s and %s are set; keep one", envConnectionString, envKey)
	case connStr != "":
		cs, err := sas.ParseConnectionString(connStr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envConnectionString, err)
		}
		if cs.Key == nil {
			return nil, fmt.Errorf("%s has no AccountKey: signing needs the account key, not a SAS", envConnectionString)
		}
		where.ConnectionString = cs
	case key == "" && account == "" && endpoint == "":
		return nil, errNoEnvCredential
	case key == "":
		return nil, fmt.Errorf("%s is not set: the account key comes from it (or from %s with AccountKey), never from a flag",
			envKey, envConnectionString)
	case account == "" && endpoint == "":
		return nil, fmt.Errorf("%s is not set: it names the account of %s", envAccount, envKey)
	}
	loc, err := sas.Locate(where)
	if err != nil {
		return nil, err
	}
	from := "the default endpoint"
	switch {
	case endpoint != "":
		from = envBlobEndpoint
	case connStr != "":
		from = envConnectionString + "'s blob endpoint"
	}
	if where.ConnectionString != nil {
		return &signingKey{key: where.ConnectionString.Key, endpoint: loc.Endpoint, endpointFrom: from}, nil
	}
	if loc.Account == "" {
		return nil, fmt.Errorf("%s is not set: it names the account of %s", envAccount, envKey)
	}
	shared, err := sas.NewSharedKey(loc.Account, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", envAccount, envKey, err)
	}
	return &signingKey{key: shared, endpoint: loc.Endpoint, endpointFrom: from}, nil
}
