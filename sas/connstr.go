package sas

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Azurite's well-known development account, public by design (Microsoft
// documents it in "Use the Azurite emulator").
const (
	DevAccountName  = "devstoreaccount1"
	DevAccountKey   = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	DevBlobEndpoint = "http://127.0.0.1:10000/" + DevAccountName
)

// ConnectionString is a parsed Azure Storage connection string: the blob
// endpoint and at most one credential.
type ConnectionString struct {
	// AccountName is the storage account, from AccountName or, failing that,
	// from the blob endpoint.
	AccountName string

	// BlobEndpoint is the blob service: given, or built from
	// DefaultEndpointsProtocol, AccountName and EndpointSuffix.
	BlobEndpoint BlobEndpoint

	// Key is set by AccountKey (or UseDevelopmentStorage).
	Key *SharedKey

	// SAS is set by SharedAccessSignature.
	SAS *ParsedToken
}

// connStrNames are the settings Azure's connection strings use, by lower
// case name. Those for other services are accepted and ignored.
var connStrNames = map[string]string{
	"accountname": "AccountName", "accountkey": "AccountKey", "blobendpoint": "BlobEndpoint",
	"endpointsuffix": "EndpointSuffix", "defaultendpointsprotocol": "DefaultEndpointsProtocol",
	"sharedaccesssignature": "SharedAccessSignature", "usedevelopmentstorage": "UseDevelopmentStorage",
	"developmentstorageproxyuri": "DevelopmentStorageProxyUri",
	"blobsecondaryendpoint":      "BlobSecondaryEndpoint",
	"queueendpoint":              "QueueEndpoint", "queuesecondaryendpoint": "QueueSecondaryEndpoint",
	"tableendpoint": "TableEndpoint", "tablesecondaryendpoint": "TableSecondaryEndpoint",
	"fileendpoint": "FileEndpoint", "filesecondaryendpoint": "FileSecondaryEndpoint",
}

// ParseConnectionString reads a connection string such as
//
//	DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY;EndpointSuffix=core.windows.net
//	BlobEndpoint=https://NAME.blob.core.windows.net;SharedAccessSignature=sv=…
//	UseDevelopmentStorage=true
//
// Setting names are case-insensitive. Errors name the setting at fault and
// never quote a key or token.
func ParseConnectionString(s string) (*ConnectionString, error) {
	settings, err := splitConnectionString(s)
	if err != nil {
		return nil, err
	}
	if dev, ok := settings["UseDevelopmentStorage"]; ok {
		return developmentStorage(dev, settings)
	}

	c := &ConnectionString{AccountName: settings["AccountName"]}
	if endpoint, ok := settings["BlobEndpoint"]; ok {
		if c.BlobEndpoint, err = parseBlobEndpoint("connection string BlobEndpoint", endpoint); err != nil {
			return nil, err
		}
		if c.AccountName == "" {
			c.AccountName = c.BlobEndpoint.Account()
		}
	} else {
		if c.AccountName == "" {
			return nil, errors.New("connection string has neither AccountName nor BlobEndpoint")
		}
		scheme := "https"
		if p, ok := settings["DefaultEndpointsProtocol"]; ok {
			if p != "https" && p != "http" {
				return nil, errors.New("connection string DefaultEndpointsProtocol is not https or http")
			}
			scheme = p
		}
		suffix := "core.windows.net"
		if s, ok := settings["EndpointSuffix"]; ok {
			suffix = strings.Trim(s, ".")
		}
		if c.BlobEndpoint, err = parseBlobEndpoint("connection string EndpointSuffix", scheme+"://"+c.AccountName+".blob."+suffix); err != nil {
			return nil, err
		}
	}

	if c.AccountName != "" {
		if err := CheckAccountName(c.AccountName); err != nil {
			return nil, fmt.Errorf("connection string AccountName: %w", err)
		}
	}

	key, hasKey := settings["AccountKey"]
	sas, hasSAS := settings["SharedAccessSignature"]
	switch {
	case hasKey && hasSAS:
		return nil, errors.New("connection string has both AccountKey and SharedAccessSignature; keep one")
	case hasKey:
		if settings["AccountName"] == "" {
			return nil, errors.New("connection string has AccountKey but no AccountName")
		}
		if c.Key, err = NewSharedKey(c.AccountName, key); err != nil {
			return nil, fmt.Errorf("connection string AccountKey: %w", err)
		}
	case hasSAS:
		if c.SAS, err = Parse(sas); err != nil {
			return nil, fmt.Errorf("connection string SharedAccessSignature: %w", err)
		}
	}
	return c, nil
}

// splitConnectionString splits Name=Value pairs on ';'. A value may hold
// '=' (base64 keys end with it).
func splitConnectionString(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("connection string is empty")
	}
	settings := make(map[string]string, 6)
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rawName, value, ok := strings.Cut(part, "=")
		value = strings.TrimSpace(value)
		name, known := connStrNames[strings.ToLower(strings.TrimSpace(rawName))]
		switch {
		case !ok || !known:
			// Quote the name only when it looks like one: a pasted key
			// fragment must not reach the message.
			if looksLikeSettingName(rawName) {
				return nil, fmt.Errorf("connection string setting %q is not one Azure defines", rawName)
			}
			return nil, fmt.Errorf("connection string part %d is not Name=Value with a known name", i+1)
		case value == "":
			return nil, fmt.Errorf("connection string %s is empty", name)
		}
		if _, dup := settings[name]; dup {
			return nil, fmt.Errorf("connection string has %s twice", name)
		}
		settings[name] = value
	}
	if len(settings) == 0 {
		return nil, errors.New("connection string is empty")
	}
	return settings, nil
}

func looksLikeSettingName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// developmentStorage expands UseDevelopmentStorage=true to Azurite's
// account, key and endpoint; DevelopmentStorageProxyUri replaces the host.
func developmentStorage(value string, settings map[string]string) (*ConnectionString, error) {
	if !strings.EqualFold(value, "true") {
		return nil, errors.New("connection string UseDevelopmentStorage must be true")
	}
	endpoint, err := ParseBlobEndpoint(DevBlobEndpoint)
	if err != nil {
		return nil, err
	}
	for name, v := range settings {
		switch name {
		case "UseDevelopmentStorage":
		case "DevelopmentStorageProxyUri":
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
				return nil, errors.New("connection string DevelopmentStorageProxyUri is not an http(s) URL")
			}
			endpoint.Scheme, endpoint.Host = u.Scheme, net.JoinHostPort(u.Hostname(), "10000")
		default:
			return nil, fmt.Errorf("connection string UseDevelopmentStorage=true cannot be combined with %s", name)
		}
	}
	key, err := NewSharedKey(DevAccountName, DevAccountKey)
	if err != nil {
		return nil, err
	}
	return &ConnectionString{AccountName: DevAccountName, BlobEndpoint: endpoint, Key: key}, nil
}
