package caddymodule

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestAzureSASRefusesWhatItDoesNotTakeFromTheTable: every origin option
// the table does not give azure_sas is refused, with the same reason,
// whether written in a Caddyfile or in JSON; every one it gives is taken.
func TestAzureSASRefusesWhatItDoesNotTakeFromTheTable(t *testing.T) {
	values := map[string]string{
		"account": "mystorage", "endpoint": "https://mystorage.blob.core.windows.net", "container": "uploads",
		"account_key": "{env.AZURE_STORAGE_KEY}", "connection_string": "{env.AZ_CONN}", "sas_token": "{env.AZ_TOKEN}",
		"identity": "managed", "scope": "container", "ttl": "10m", "renew_before": "1m", "version": "2025-11-05",
		"policy": "readers", "cache_control": "max-age=60", "content_type": "image/png",
		"content_disposition": "inline", "content_encoding": "gzip", "content_language": "en",
	}
	want := map[string]string{
		"insecure_http":      "insecure_http: azure_sas hands its URLs to clients",
		"sas_token":          errNothingToSignWith.Error(),
		"anonymous":          errNothingToSignWith.Error(),
		"policy":             "policy is not offered",
		"scope":              "scope belongs to azure_blob, not to azure_sas",
		"ttl":                "", // azure_sas has a ttl of its own
		"renew_before":       "renew_before belongs to azure_blob, not to azure_sas",
		"guess_content_type": "guess_content_type belongs to azure_blob, not to azure_sas",
		"user_content":       "user_content belongs to azure_blob, not to azure_sas",
	}
	taken := 0
	for _, opt := range originOptions {
		line := opt.name + " " + values[opt.name]
		if opt.name == "account_key" || opt.name == "account" || opt.name == "container" {
			continue // the block below gives them
		}
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`:8080 {
	azure_sas {
		container uploads
		account mystorage
		account_key {env.AZURE_STORAGE_KEY}
		`+line+`
	}
}
`), nil)
		reason, refused := want[opt.name]
		if opt.kind&credentialOption != 0 && !refused {
			// A second credential: refused as one too many, not as not taken.
			if assert.Error(t, err, opt.name) {
				assert.Contains(t, err.Error(), "give only one of", opt.name)
			}
			taken++
			continue
		}
		if !refused || reason == "" {
			assert.NoError(t, err, "%s: azure_sas takes it", opt.name)
			taken++
			continue
		}
		if assert.Error(t, err, "Caddyfile: %s", opt.name) {
			assert.Contains(t, err.Error(), "azure_sas: "+reason, "Caddyfile: %s", opt.name)
		}
		if opt.onOrigin == nil {
			continue // no JSON field of azure_sas can hold it
		}
		// The same option set in azure_sas's JSON.
		is := Issuer{Origin: Origin{Container: "uploads", Account: "mystorage"}}
		switch field := opt.onOrigin(&is.Origin).(type) {
		case *string:
			*field = values[opt.name]
		case *bool:
			*field = true
		default:
			require.Failf(t, "a field of another type", "%s: %T", opt.name, field)
		}
		raw, err := json.Marshal(is)
		require.NoError(t, err)
		var fromJSON Issuer
		require.NoError(t, json.Unmarshal(raw, &fromJSON))
		err = fromJSON.Validate()
		if assert.Error(t, err, "JSON: %s", opt.name) {
			assert.Contains(t, err.Error(), reason, "JSON: %s", opt.name)
		}
	}
	assert.Positive(t, taken, "no option was taken")
}
