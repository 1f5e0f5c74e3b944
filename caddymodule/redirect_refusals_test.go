package caddymodule_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestRedirectRefusesWhatWouldReachTooFar: a redirect hands its token to
// every client, so a ready-made token (which reads at least the whole
// container) is refused, from the Caddyfile or from a connection string
// in the environment, and so is a redirect_endpoint on another account's
// host. A custom domain, with or without a path, is the user's to name.
func TestRedirectRefusesWhatWouldReachTooFar(t *testing.T) {
	key, err := sas.NewSharedKey("mystorage", testKey(7))
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos", Expiry: time.Now().Add(time.Hour)}
	token, err := v.Sign(key)
	require.NoError(t, err)
	addSecret("a container sas_token", token.Encode())
	t.Setenv("AZ_TOKEN", token.Encode())
	t.Setenv("AZ_KEY", testKey(7))
	t.Setenv("AZ_CS", "BlobEndpoint=https://mystorage.blob.core.windows.net;SharedAccessSignature="+token.Encode())

	const readyMade = "redirect: a ready-made token (sas_token, or a connection string's SharedAccessSignature) would be handed to every client"
	for _, tc := range []struct{ name, options, want string }{
		{"sas_token", "account mystorage\n\t\tsas_token {env.AZ_TOKEN}", readyMade},
		{"a connection string's SharedAccessSignature", "connection_string {env.AZ_CS}", readyMade},
		{"redirect_endpoint on another account", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint https://someoneelse.blob.core.windows.net",
			`redirect_endpoint names the storage account "someoneelse", not "mystorage"`},
		{"redirect_endpoint in clear for an https account", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint http://127.0.0.1:10000/mystorage",
			"redirect_endpoint is http, but tokens for an https endpoint are signed for https only"},
		{"redirect_endpoint on the account", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint https://mystorage.blob.core.windows.net", ""},
		{"redirect_endpoint on the account's secondary (RA-GRS)", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint https://mystorage-secondary.blob.core.windows.net", ""},
		{"redirect_endpoint on another account's private endpoint", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint https://someoneelse.privatelink.blob.core.windows.net",
			`redirect_endpoint names the storage account "someoneelse"`},
		{"redirect_endpoint on a custom domain with a path", "account mystorage\n\t\taccount_key {env.AZ_KEY}\n\t\tredirect_endpoint https://cdn.example.com/media", ""},
	} {
		err := loadError(t, fmt.Sprintf(`{
	admin off
}
:0 {
	azure_blob {
		container photos
		redirect
		%s
	}
}`, tc.options))
		if tc.want == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		if assert.ErrorContains(t, err, tc.want, tc.name) {
			assert.NotContains(t, err.Error(), "sig=", "%s: the error quotes the token", tc.name)
		}
	}
}
