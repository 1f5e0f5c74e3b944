package sas

import (
	"fmt"
	"strings"
)

// Where is what a user gave to say where a storage account is: any of an
// account name, a blob endpoint and a parsed connection string, as in the
// Azure CLI's AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_BLOB_ENDPOINT and
// AZURE_STORAGE_CONNECTION_STRING.
type Where struct {
	Account          string            // an account name, or ""
	Endpoint         string            // a blob endpoint URL, or ""
	ConnectionString *ConnectionString // or nil
}

// Setting is one of the three settings of a Where.
type Setting uint8

// The settings of a Where.
const (
	SettingAccount Setting = iota
	SettingEndpoint
	SettingConnectionString
)

// String is the setting's generic name: account, endpoint or connection
// string.
func (s Setting) String() string {
	return [...]string{"account", "endpoint", "connection string"}[s]
}

// LocateError is what Locate returns for settings that are wrong or that
// disagree. Its Error names them generically (String); Rename says the same
// with the names the caller's users wrote them under, such as
// AZURE_STORAGE_ACCOUNT or a config file's account_name.
type LocateError struct {
	format string // the message, with %[1]s, %[2]s and %[3]s where the settings are named
}

// Error is the message with the settings' generic names.
func (e *LocateError) Error() string { return e.Rename(Setting.String) }

// Rename is the message with each setting called name(setting).
func (e *LocateError) Rename(name func(Setting) string) string {
	return fmt.Sprintf(e.format, name(SettingAccount), name(SettingEndpoint), name(SettingConnectionString))
}

// locateErrorf makes a LocateError; format names the settings with
// %[1]s, %[2]s and %[3]s, and args, strings or errors, fill its other
// verbs.
func locateErrorf(format string, args ...any) *LocateError {
	escaped := make([]any, len(args))
	for i, arg := range args {
		if err, ok := arg.(error); ok {
			arg = err.Error()
		}
		escaped[i] = strings.ReplaceAll(arg.(string), "%", "%%") // the message is a format again
	}
	msg := fmt.Sprintf(strings.NewReplacer("%[1]s", "%%[1]s", "%[2]s", "%%[2]s", "%[3]s", "%%[3]s").Replace(format), escaped...)
	return &LocateError{format: msg}
}

// Location is a storage account and its blob endpoint.
type Location struct {
	// Account is "" when nothing names it (a custom domain with a SAS,
	// say).
	Account string

	// Endpoint is where the account's blob service answers.
	Endpoint BlobEndpoint
}

// The names of the settings in a LocateError's format.
const (
	accountSetting  = "%[1]s"
	endpointSetting = "%[2]s"
	connStrSetting  = "%[3]s"
)

// Locate reconciles the settings of w into one account and endpoint: a
// setting left empty comes from another (the connection string's account
// and endpoint, the account's endpoint in Azure's public cloud, the
// account an endpoint names), and settings that disagree are an error, so
// that tokens for one account are never sent to another's endpoint.
// Errors are *LocateError: they name the settings and quote only account
// names that passed CheckAccountName, since a value in the wrong setting
// may be a key.
func Locate(w Where) (Location, error) {
	// Each value's source, so that an error names the setting it came from.
	account, accountFrom := w.Account, accountSetting
	if account != "" {
		if err := CheckAccountName(account); err != nil {
			return Location{}, locateErrorf("%[1]s: %s", err)
		}
	}
	var endpoint BlobEndpoint
	endpointFrom := endpointSetting
	if w.Endpoint != "" {
		var err error
		if endpoint, err = parseBlobEndpoint(endpointSetting, w.Endpoint); err != nil {
			return Location{}, &LocateError{format: err.Error()}
		}
	}
	if cs := w.ConnectionString; cs != nil {
		switch {
		case account == "":
			account, accountFrom = cs.AccountName, connStrSetting+" AccountName"
		case cs.AccountName != "" && cs.AccountName != account:
			return Location{}, locateErrorf("%[1]s %q differs from the account %q of %[3]s", account, cs.AccountName)
		}
		switch {
		case endpoint.IsZero():
			endpoint, endpointFrom = cs.BlobEndpoint, connStrSetting+" BlobEndpoint"
		case !endpoint.Equal(cs.BlobEndpoint):
			return Location{}, locateErrorf("%[2]s differs from the blob endpoint of %[3]s; give one of them")
		}
	}
	if endpoint.IsZero() {
		if account == "" {
			return Location{}, locateErrorf("cannot tell where the storage account is: give %[1]s, %[2]s or %[3]s")
		}
		endpoint = DefaultBlobEndpoint(account)
	}
	switch named := endpoint.Account(); {
	case named == "":
	case CheckAccountName(named) != nil:
		return Location{}, locateErrorf(endpointFrom + " names no valid account: give a blob endpoint such as https://<account>.blob.core.windows.net")
	case account == "":
		account = named
	case named != account:
		return Location{}, locateErrorf(accountFrom+" %q differs from the account %q that "+endpointFrom+" names", account, named)
	}
	return Location{Account: account, Endpoint: endpoint}, nil
}
