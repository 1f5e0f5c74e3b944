package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestPlainHTTPEndpointsRefused: an http endpoint that Azure (or any host
// across a network) would be reached at is refused when the config is
// validated, also when it comes from a placeholder and is known only then,
// in the azure_blob directive, with redirect, in azure_sas and in a
// reverse_proxy's own azure_blob transport. Loopback, Azurite's
// development account on any host, and insecure_http are accepted.
func TestPlainHTTPEndpointsRefused(t *testing.T) {
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	const (
		refused        = "endpoint is plain http to a host other than loopback: every token would cross the network in clear text; use https, or, in azure_blob and its transport, set insecure_http if that network is private and trusted"
		connStrRefused = "connection_string's blob endpoint is plain http to a host other than loopback"
		toClients      = " would hand clients plain http URLs, their tokens in clear text: use https"
	)
	realKey := testKey(9)
	addSecret("a real account's key", realKey)
	t.Setenv("AZ_REAL_KEY", realKey)
	blob := func(options string) string {
		return caddyGlobals + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		container photos
		account_key {env.AZ_TEST_KEY}
		%s
	}
}`, options)
	}
	connStrBlob := caddyGlobals + `
http://localhost:{$TEST_PORT} {
	azure_blob {
		container photos
		connection_string {env.AZ_ENDPOINT}
	}
}`
	azureSAS := func(keyVar string) string {
		return caddyGlobals + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_sas /sas {
		endpoint {env.AZ_ENDPOINT}
		container photos
		account_key {env.%s}
	}
}`, keyVar)
	}
	realKeyBlob := func(options string) string {
		return strings.Replace(blob(options), "{env.AZ_TEST_KEY}", "{env.AZ_REAL_KEY}", 1)
	}
	for _, c := range []struct {
		name, config, endpoint, want string
	}{
		{"endpoint from a placeholder", blob("endpoint {env.AZ_ENDPOINT}"), "http://mystorage.blob.core.windows.net", refused},
		{"with redirect", blob("endpoint {env.AZ_ENDPOINT}\n\t\tredirect"), "http://mystorage.blob.core.windows.net", refused},
		{"private endpoint's host", blob("endpoint {env.AZ_ENDPOINT}"), "http://mystorage.privatelink.blob.core.windows.net", refused},
		{"an address on the network", blob("endpoint {env.AZ_ENDPOINT}"), "http://10.0.0.5:10000/myacct", refused},
		{"a connection string's DefaultEndpointsProtocol", connStrBlob, "DefaultEndpointsProtocol=http;AccountName=mystorage;AccountKey=" + sas.DevAccountKey, connStrRefused},
		{"a connection string's BlobEndpoint", connStrBlob, "BlobEndpoint=http://mystorage.blob.core.windows.net;AccountName=mystorage;AccountKey=" + sas.DevAccountKey, connStrRefused},
		{"azure_sas", azureSAS("AZ_TEST_KEY"), "http://mystorage.blob.core.windows.net", refused},
		{"reverse_proxy's transport", caddyGlobals + `
http://localhost:{$TEST_PORT} {
	reverse_proxy 127.0.0.1:10000 {
		transport azure_blob {
			endpoint {env.AZ_ENDPOINT}
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, "http://mystorage.blob.core.windows.net", refused},

		{"loopback", blob("endpoint {env.AZ_ENDPOINT}"), "http://127.0.0.1:10000/devstoreaccount1", ""},
		{"localhost, another account", blob("endpoint {env.AZ_ENDPOINT}\n\t\taccount myacct"), "http://localhost:10000/myacct", ""},
		{"Azurite in a compose network", blob("endpoint {env.AZ_ENDPOINT}"), "http://azurite:10000/devstoreaccount1", ""},
		{"UseDevelopmentStorage behind a proxy URI", connStrBlob, "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite", ""},
		{"insecure_http", blob("endpoint {env.AZ_ENDPOINT}\n\t\tinsecure_http"), "http://10.0.0.5:10000/myacct", ""},
		{"insecure_http with redirect", blob("endpoint {env.AZ_ENDPOINT}\n\t\tinsecure_http\n\t\tredirect"), "http://10.0.0.5:10000/myacct", "redirect" + toClients},
		{"redirect_endpoint on Azurite in a compose network", blob("endpoint {env.AZ_ENDPOINT}\n\t\tredirect\n\t\tredirect_endpoint http://azurite:10000/devstoreaccount1"),
			"http://azurite:10000/devstoreaccount1", ""},
		{"devstoreaccount1's path on Azure's host, in capitals, with a real key", realKeyBlob("endpoint {env.AZ_ENDPOINT}"),
			"http://MYSTORAGE.BLOB.CORE.WINDOWS.NET/devstoreaccount1", refused},
		{"devstoreaccount1's path on another host, with a real key", realKeyBlob("endpoint {env.AZ_ENDPOINT}"),
			"http://10.0.0.5:10000/devstoreaccount1", refused},
		{"azure_sas with insecure_http's network", azureSAS("AZ_REAL_KEY"), "http://10.0.0.5:10000/myacct", refused},
		{"insecure_http on a transport", caddyGlobals + `
http://localhost:{$TEST_PORT} {
	reverse_proxy 10.0.0.5:10000 {
		transport azure_blob {
			endpoint {env.AZ_ENDPOINT}
			account_key {env.AZ_TEST_KEY}
			insecure_http
		}
	}
}`, "http://10.0.0.5:10000/myacct", ""},
	} {
		t.Setenv("AZ_ENDPOINT", c.endpoint)
		err := loadError(t, c.config)
		if c.want == "" {
			assert.NoError(t, err, c.name)
			continue
		}
		if assert.ErrorContains(t, err, c.want, c.name) {
			assert.NotContains(t, err.Error(), sas.DevAccountKey[:12], "%s: the error quotes the key", c.name)
		}
	}
}

// TestPlainHTTPUpstreamOffLoopbackRefused: a reverse_proxy of the user's
// own dials its upstream, not the transport's endpoint. With an endpoint on
// loopback (the only reason plain http was taken) and an upstream across
// the network, every request is refused before a token is signed or a
// connection made, with an error in the log that says so.
func TestPlainHTTPUpstreamOffLoopbackRefused(t *testing.T) {
	t.Setenv("AZ_REAL_KEY", testKey(9))
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+`
http://localhost:{$TEST_PORT} {
	reverse_proxy 10.255.255.1:10000 {
		transport azure_blob {
			endpoint http://localhost:10000/myacct
			container photos
			account_key {env.AZ_REAL_KEY}
		}
	}
}`)
	resp, _ := fetch(t, tester, http.MethodGet, "/photos/cat.jpg")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(logs), "the upstream is plain http to a host other than loopback: the token would cross the network in clear text")
	assert.NotContains(t, string(logs), "azure blob request", "nothing was sent")
}
