package caddymodule

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// tokenFor signs a token for the photos container of Azurite's account
// that grants perms: a service SAS for resource, or an account SAS.
func tokenFor(t *testing.T, resource sas.Resource, perms string) string {
	t.Helper()
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	expiry := time.Now().Add(time.Hour)
	if resource == "" {
		p, err := sas.ParseAccountPermissions(perms)
		require.NoError(t, err)
		v := sas.AccountValues{Services: sas.ServiceBlob, ResourceTypes: sas.ResourceTypeObject | sas.ResourceTypeContainer, Permissions: p, Expiry: expiry}
		q, err := v.Sign(key)
		require.NoError(t, err)
		return q.Encode()
	}
	p, err := sas.ParsePermissions(resource, perms)
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: resource, Permissions: p, Container: "photos", Expiry: expiry}
	if resource == sas.ResourceBlob {
		v.Blob = "a.jpg"
	}
	q, err := v.Sign(key)
	require.NoError(t, err)
	return q.Encode()
}

// TestTokenWithoutReadIsAStartUpError: a ready-made token that does not
// grant read would have Azure refuse every request, so it is refused when
// the config loads, naming what it lacks and how to get one that reads,
// and never quoting it. One that reads starts, with a warning when it
// grants more.
func TestTokenWithoutReadIsAStartUpError(t *testing.T) {
	const endpoint = "http://127.0.0.1:1/devstoreaccount1"
	const advice = "so Azure would refuse every request (AuthorizationPermissionMismatch); give one signed with sp=r, " +
		"e.g. by caddy azure-sas sign --container <name> --permissions r --expiry <lifetime> --token-only"
	// Each transport reads its token from AZ_TEST_TOKEN.
	fromEnv := Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, Container: "photos", SASToken: "{env.AZ_TEST_TOKEN}"}}}
	inBlock := fromEnv
	inBlock.Caddyfile = "Caddyfile:7"
	for _, tc := range []struct {
		name  string
		tr    Transport
		token string
		want  string
	}{
		{"container token to list", fromEnv, tokenFor(t, sas.ResourceContainer, "l"), "sas_token: the token does not grant read (sp=l has no r), " + advice},
		{"container token to write", fromEnv, tokenFor(t, sas.ResourceContainer, "cw"), "sas_token: the token does not grant read (sp=cw has no r), " + advice},
		{"blob token to write", fromEnv, "?" + tokenFor(t, sas.ResourceBlob, "w"), "sas_token: the token does not grant read (sp=w has no r), " + advice},
		{"account token to list", fromEnv, tokenFor(t, "", "l"), "sas_token: the token does not grant read (sp=l has no r), " + advice},
		{"connection string's token", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Container: "photos", ConnectionString: "BlobEndpoint=" + endpoint + ";SharedAccessSignature={env.AZ_TEST_TOKEN}"}}},
			tokenFor(t, sas.ResourceContainer, "l"), "connection_string: the token does not grant read (sp=l has no r), " + advice},
		{"in a Caddyfile block", inBlock, tokenFor(t, sas.ResourceContainer, "w"), "Caddyfile:7: sas_token: the token does not grant read (sp=w has no r), " + advice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AZ_TEST_TOKEN", tc.token)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tc.tr.Provision(ctx)
			require.Error(t, err, "a token without read loaded")
			assert.Equal(t, tc.want, err.Error())
			query, perr := url.ParseQuery(strings.TrimPrefix(tc.token, "?"))
			require.NoError(t, perr)
			assert.NotContains(t, err.Error(), query.Get("sig"), "the error quotes the signature")
			assert.NotContains(t, err.Error(), "sig=", "the error quotes the token")
		})
	}

	// A token that reads starts; one that also writes, with a warning.
	for perms, warned := range map[string]bool{"r": false, "rl": false, "rw": true} {
		logFile := filepath.Join(t.TempDir(), "caddy.log")
		config := fmt.Sprintf(`{"endpoint": %q, "container": "photos", "sas_token": %q}`, endpoint, tokenFor(t, sas.ResourceContainer, perms))
		tr, _ := loadLoggedTransport(t, logFile, config)
		assert.NotNil(t, tr.reader.auth, "sp=%s: not provisioned", perms)
		logs, err := os.ReadFile(logFile)
		require.NoError(t, err)
		assert.Equal(t, warned, strings.Contains(string(logs), `"msg":"sas_token grants more than read and list; a read-only token is enough"`),
			"sp=%s: warned of more than read and list", perms)
	}
}

// TestTokenWithoutReadFailsAdapt: written literally, such a token is
// refused when the Caddyfile is adapted.
func TestTokenWithoutReadFailsAdapt(t *testing.T) {
	token := tokenFor(t, sas.ResourceContainer, "l")
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`:8080 {
	azure_blob {
		endpoint http://127.0.0.1:10000/devstoreaccount1
		container photos
		sas_token "%s"
	}
}
`, token)), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "azure_blob: sas_token: the token does not grant read (sp=l has no r)")
	assert.NotContains(t, err.Error(), "sig=")
	query, perr := url.ParseQuery(token)
	require.NoError(t, perr)
	assert.NotContains(t, err.Error(), query.Get("sig"))
}
