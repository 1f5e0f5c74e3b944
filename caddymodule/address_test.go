package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
)

// loadError adapts a Caddyfile and provisions it as `caddy validate` does,
// without serving, and returns the first error.
func loadError(t *testing.T, caddyfile string) error {
	t.Helper()
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	require.NoError(t, json.Unmarshal(adapted, &cfg))
	return caddy.Validate(&cfg)
}

// TestConnectionStringAloneAgainstAzurite: the connection string in the
// environment is all a user writes; it names the account and the address,
// which are read when the config is provisioned, for the directive and for
// the transport in a reverse_proxy of one's own (with the azure_blob
// upstream source). UseDevelopmentStorage=true from the environment reaches
// Azurite on its default port.
func TestConnectionStringAloneAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.Port(10000))
	az.CreateContainer(t, "photos", false)
	cat := []byte(strings.Repeat("MEOW", 64))
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", fmt.Sprintf(
		"DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", az.Account, az.Key, az.Endpoint))
	t.Setenv("AZ_DEV_CONNECTION_STRING", "UseDevelopmentStorage=true")

	config := caddyGlobals + `
http://localhost:9080 {
	handle_path /cs/* {
		azure_blob {
			container photos
			connection_string {env.AZURE_STORAGE_CONNECTION_STRING}
		}
	}
	handle_path /dev/* {
		azure_blob {
			container photos
			connection_string {env.AZ_DEV_CONNECTION_STRING}
			fallback {
				container archive
			}
		}
	}
	handle_path /own/* {
		reverse_proxy {
			dynamic azure_blob {
				connection_string {env.AZURE_STORAGE_CONNECTION_STRING}
			}
			transport azure_blob {
				container photos
				connection_string {env.AZURE_STORAGE_CONNECTION_STRING}
			}
		}
	}
}`
	tester := startCaddy(t, config)
	for _, path := range []string{"/cs/cat.jpg", "/dev/cat.jpg", "/own/photos/cat.jpg"} {
		resp, body := fetch(t, tester, http.MethodGet, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
		assert.Equal(t, cat, body, "GET %s", path)
		resp, _ = fetch(t, tester, http.MethodGet, strings.Replace(path, "cat.jpg", "missing.jpg", 1))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s, missing", path)
	}

	// The adapted config names no address: it is resolved at provision.
	raw := adminGet(t, "/config/")
	assert.Equal(t, 4, strings.Count(string(raw), `"source":"azure_blob"`),
		"a dynamic azure_blob source for each origin (/cs one, /dev two with its fallback) and the own reverse_proxy's")
	assert.NotContains(t, string(raw), fmt.Sprint(az.Port), "the address was pinned when the config was adapted")
}

// TestConnectionStringAddressIsCheckedAtProvision: the account given
// beside a connection string must be its account, and an endpoint given
// must be its endpoint, or the config does not load: tokens for one
// account are never sent to another's address.
func TestConnectionStringAddressIsCheckedAtProvision(t *testing.T) {
	t.Setenv("AZ_CS", "DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey="+sas.DevAccountKey)
	t.Setenv("AZ_ACCOUNT", "otherstorage")
	for _, tc := range []struct{ name, options, want string }{
		{"account literal", "account otherstorage", `account "otherstorage" differs from the connection string's "mystorage"`},
		{"account placeholder", "account {env.AZ_ACCOUNT}", `account "otherstorage" differs from the connection string's "mystorage"`},
		{"endpoint", "endpoint https://otherstorage.blob.core.windows.net", "endpoint differs from the connection string's blob endpoint"},
	} {
		err := loadError(t, fmt.Sprintf(`{
	admin off
}
:0 {
	azure_blob {
		container photos
		connection_string {env.AZ_CS}
		%s
	}
}`, tc.options))
		assert.ErrorContains(t, err, tc.want, tc.name)
	}

	// The directive's upstream source and the transport agree when they do.
	err := loadError(t, `{
	admin off
}
:0 {
	azure_blob {
		account mystorage
		container photos
		connection_string {env.AZ_CS}
	}
}`)
	assert.NoError(t, err)
}

// TestStartupErrorsNeverQuoteASecretInTheWrongField: a placeholder in the
// wrong field ({env.AZURE_STORAGE_KEY} after account, say) must not print
// the key in Caddy's load error. Every field is tried, with the key from
// a runtime placeholder and from {$VAR}, which the Caddyfile adapter
// substitutes at once.
func TestStartupErrorsNeverQuoteASecretInTheWrongField(t *testing.T) {
	key := "Zm9vYmFyYmF6cXV4cXV1eHF1dXhmb29iYXJiYXpxdXhxdXV4cXV1eGZvb2JhcmJhenF1eHF1dXhxdXV4Zm9v+/8="
	t.Setenv("AZURE_STORAGE_KEY", key)
	t.Setenv("AZ_CS", "AccountName=mystorage;AccountKey="+key)
	fields := map[string]string{
		"account":          "account %s\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"endpoint":         "endpoint %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"container":        "account mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"version":          "version %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"scope":            "scope %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"index":            "index %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"strip_prefix":     "strip_prefix %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"prefix":           "prefix %s\n\t\taccount mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"identity":         "identity %s\n\t\taccount mystorage",
		"account+cs":       "account %s\n\t\tconnection_string {env.AZ_CS}",
		"account+endpoint": "account %s\n\t\tendpoint https://mystorage.blob.core.windows.net\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
		"matcher argument": "account mystorage\n\t\taccount_key {env.AZURE_STORAGE_KEY}",
	}
	for name, options := range fields {
		for _, value := range []string{"{env.AZURE_STORAGE_KEY}", "{$AZURE_STORAGE_KEY}"} {
			block := options
			if strings.Contains(options, "%s") {
				block = fmt.Sprintf(options, value)
			}
			container := "photos"
			if name == "container" {
				container = value
			}
			directive := "azure_blob"
			if name == "matcher argument" {
				directive = "azure_blob * " + value
			}
			err := loadError(t, fmt.Sprintf(`{
	admin off
}
:0 {
	%s {
		container %s
		%s
	}
}`, directive, container, block))
			// A runtime placeholder in a field that Caddy does not resolve
			// is kept as text: "{env.AZURE_STORAGE_KEY}" is a valid index
			// name or blob prefix, never the key. A blob prefix may be the
			// key's text itself: Azure would look for blobs under it.
			if loads := name == "prefix" || value[1] == 'e' && name == "index"; loads {
				assert.NoError(t, err, "%s = %s", name, value)
				continue
			}
			require.Error(t, err, "%s = %s: the config loaded", name, value)
			for _, part := range []string{key, key[:12], key[20:32], key[len(key)-12:]} {
				assert.NotContains(t, err.Error(), part, "%s = %s: the error quotes the key", name, value)
			}
		}
	}
}
