package sas

import "fmt"

// Where is what a user gave to say where a storage account is: any of an
// account name, a blob endpoint and a parsed connection string, as in the
// Azure CLI's AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_BLOB_ENDPOINT and
// AZURE_STORAGE_CONNECTION_STRING.
type Where struct {
	Account          string            // an account name, or ""
	Endpoint         string            // a blob endpoint URL, or ""
	ConnectionString *ConnectionString // or nil

	// The names of the three settings as the user wrote them, for errors.
	// Empty means "account", "endpoint" and "connection string".
	AccountSetting, EndpointSetting, ConnectionStringSetting string
}

// Location is a storage account and its blob endpoint.
type Location struct {
	// Account is "" when nothing names it (a custom domain with a SAS,
	// say).
	Account string

	// Endpoint is where the account's blob service answers.
	Endpoint BlobEndpoint
}

// Locate reconciles the settings of w into one account and endpoint: a
// setting left empty comes from another (the connection string's account
// and endpoint, the account's endpoint in Azure's public cloud, the
// account an endpoint names), and settings that disagree are an error, so
// that tokens for one account are never sent to another's endpoint.
// Errors name the settings and quote only account names that passed
// CheckAccountName: a value in the wrong setting may be a key.
func Locate(w Where) (Location, error) {
	names := [3]string{w.AccountSetting, w.EndpointSetting, w.ConnectionStringSetting}
	for i, name := range [3]string{"account", "endpoint", "connection string"} {
		if names[i] == "" {
			names[i] = name
		}
	}
	accountName, endpointName, connStrName := names[0], names[1], names[2]

	// Each value's source, so that an error names the setting it came from.
	account, accountFrom := w.Account, accountName
	if account != "" {
		if err := CheckAccountName(account); err != nil {
			return Location{}, fmt.Errorf("%s: %w", accountName, err)
		}
	}
	var endpoint BlobEndpoint
	endpointFrom := endpointName
	if w.Endpoint != "" {
		var err error
		if endpoint, err = parseBlobEndpoint(endpointName, w.Endpoint); err != nil {
			return Location{}, err
		}
	}
	if cs := w.ConnectionString; cs != nil {
		switch {
		case account == "":
			account, accountFrom = cs.AccountName, connStrName+" AccountName"
		case cs.AccountName != "" && cs.AccountName != account:
			return Location{}, fmt.Errorf("%s %q differs from the account %q of %s", accountName, account, cs.AccountName, connStrName)
		}
		switch {
		case endpoint.IsZero():
			endpoint, endpointFrom = cs.BlobEndpoint, connStrName+" BlobEndpoint"
		case !endpoint.Equal(cs.BlobEndpoint):
			return Location{}, fmt.Errorf("%s differs from the blob endpoint of %s; give one of them", endpointName, connStrName)
		}
	}
	if endpoint.IsZero() {
		if account == "" {
			return Location{}, fmt.Errorf("cannot tell where the storage account is: give %s, %s or %s", accountName, endpointName, connStrName)
		}
		endpoint = DefaultBlobEndpoint(account)
	}
	switch named := endpoint.Account(); {
	case named == "":
	case CheckAccountName(named) != nil:
		return Location{}, fmt.Errorf("%s names no valid account: give a blob endpoint such as https://<account>.blob.core.windows.net", endpointFrom)
	case account == "":
		account = named
	case named != account:
		return Location{}, fmt.Errorf("%s %q differs from the account %q that %s names", accountFrom, account, named, endpointFrom)
	}
	return Location{Account: account, Endpoint: endpoint}, nil
}
