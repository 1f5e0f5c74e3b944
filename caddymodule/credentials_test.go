package caddymodule_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/needs"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestConnectionStringAloneAgainstAzurite: the connection string in the
// environment is all a user writes; it names the account and the address,
// which are read when the config is provisioned, for the directive and for
// the transport in a reverse_proxy of one's own (with the azure_blob
// upstream source). UseDevelopmentStorage=true from the environment reaches
// Azurite on its default port.
func TestConnectionStringAloneAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.Port(developmentStoragePort(t)))
	az.CreateContainer(t, "photos", false)
	cat := []byte(strings.Repeat("MEOW", 64))
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	az.CreateContainer(t, "archive", false) // /dev's fallback: missing blobs, not a missing container
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", fmt.Sprintf(
		"DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", az.Account, az.Key, az.Endpoint))
	t.Setenv("AZ_DEV_CONNECTION_STRING", "UseDevelopmentStorage=true")

	config := caddyGlobals + `
http://localhost:{$TEST_PORT} {
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
		{"account literal", "account otherstorage", `account "otherstorage" differs from the account "mystorage" of connection_string`},
		{"account placeholder", "account {env.AZ_ACCOUNT}", `account "otherstorage" differs from the account "mystorage" of connection_string`},
		{"endpoint", "endpoint https://otherstorage.blob.core.windows.net", "endpoint differs from the blob endpoint of connection_string"},
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

// TestCredentialsAndOptionsAgainstAzurite covers the credentials and
// options the other tests leave out, on Azurite's default port so that
// UseDevelopmentStorage=true reaches it: a connection string from the
// environment with container scope, ttl, renew_before and version;
// UseDevelopmentStorage; anonymous on a public container.
func TestCredentialsAndOptionsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.Port(developmentStoragePort(t)))
	az.CreateContainer(t, "photos", false)
	az.CreateContainer(t, "public-assets", true)
	data := []byte("0123456789abcdef")
	az.Upload(t, "photos", "digits.txt", data, "text/plain")
	az.Upload(t, "public-assets", "logo.txt", []byte("LOGO"), "text/plain")
	t.Setenv("AZ_CONNECTION_STRING", fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s", az.Account, az.Key, az.Endpoint))

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	handle_path /cs/* {
		azure_blob {
			endpoint %[1]s
			container photos
			connection_string {env.AZ_CONNECTION_STRING}
			scope container
			ttl 10m
			renew_before 2m
			version 2025-11-05
		}
	}
	handle_path /dev/* {
		azure_blob {
			container photos
			connection_string UseDevelopmentStorage=true
		}
	}
	handle_path /public/* {
		azure_blob {
			endpoint %[1]s
			container public-assets
			anonymous
		}
	}
	handle_path /not-public/* {
		azure_blob {
			endpoint %[1]s
			container photos
			anonymous
		}
	}
}`, az.Endpoint))

	for _, tc := range []struct {
		path, rangeHeader string
		status            int
		body              string
	}{
		{"/cs/digits.txt", "", 200, string(data)},
		{"/cs/digits.txt", "bytes=10-", 206, "abcdef"},
		{"/dev/digits.txt", "bytes=0-3", 206, "0123"},
		{"/public/logo.txt", "", 200, "LOGO"},
		{"/not-public/digits.txt", "", 502, ""}, // a private container refuses anonymous reads
	} {
		resp, body := fetch(t, tester, http.MethodGet, tc.path, "Range", tc.rangeHeader)
		assert.Equal(t, tc.status, resp.StatusCode, "GET %s (Range %q)", tc.path, tc.rangeHeader)
		if tc.body != "" {
			assert.Equal(t, tc.body, string(body), "GET %s (Range %q)", tc.path, tc.rangeHeader)
		}
	}
}

// developmentStoragePort is the port UseDevelopmentStorage=true means,
// 10000, which the test's Azurite must take. When another process holds it
// (a developer's own Azurite, say), the test skips saying so, or fails
// when CI is set.
func developmentStoragePort(t *testing.T) int {
	t.Helper()
	const port = 10000
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		needs.Missing(t, fmt.Sprintf("UseDevelopmentStorage=true means Azurite on port %d, which another process holds (%v): stop it to run this test", port, err))
	}
	require.NoError(t, ln.Close())
	return port
}
