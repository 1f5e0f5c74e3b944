package caddymodule_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestStartUpErrorsNameTheBlock: an error found when the config loads,
// such as an {env.*} that is empty, says which block of the Caddyfile it
// is about, by file and line: azure_blob's, a fallback's, a transport's in
// reverse_proxy, azure_sas's. The adapted JSON carries that place.
func TestStartUpErrorsNameTheBlock(t *testing.T) {
	t.Setenv("AZ_SET_KEY", testKey(3))
	const empty = "account_key: evaluated placeholder {env.AZ_UNSET_KEY} is empty"
	caddyfile := `{
	admin off
}
:0 {
	azure_blob /main/* {
		account mystorage
		container photos
		account_key {env.%s}
		fallback {
			account otherstorage
			account_key {env.%s}
		}
	}
	reverse_proxy /own/* https://mystorage.blob.core.windows.net {
		transport azure_blob {
			account mystorage
			account_key {env.%s}
		}
	}
	azure_sas /sas {
		account mystorage
		container uploads
		account_key {env.%s}
	}
}
`
	for _, tc := range []struct {
		name  string
		unset int // which of the four blocks reads AZ_UNSET_KEY
		want  string
	}{
		{"azure_blob", 0, "provision http.reverse_proxy.transport.azure_blob: Caddyfile:5: " + empty},
		{"fallback", 1, "provision http.reverse_proxy.transport.azure_blob: Caddyfile:9: " + empty},
		{"transport", 2, "provision http.reverse_proxy.transport.azure_blob: Caddyfile:15: " + empty},
		{"azure_sas", 3, "provision http.handlers.azure_sas: Caddyfile:20: " + empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := []any{"AZ_SET_KEY", "AZ_SET_KEY", "AZ_SET_KEY", "AZ_SET_KEY"}
			vars[tc.unset] = "AZ_UNSET_KEY"
			config := fmt.Sprintf(caddyfile, vars...)
			adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(config), nil)
			require.NoError(t, err, "adapt")
			for _, where := range []string{"Caddyfile:5", "Caddyfile:9", "Caddyfile:15", "Caddyfile:20"} {
				assert.Contains(t, string(adapted), `"caddyfile":"`+where+`"`, "the adapted JSON")
			}
			err = loadError(t, config)
			require.Error(t, err, "the config loaded with AZ_UNSET_KEY unset")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
