package caddymodule

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"ttl", "ttl", 0},
		{"", "abc", 3},
		{"contianer", "container", 1}, // a swap of neighbours is one edit
		{"contaner", "container", 1},
		{"containerr", "container", 1},
		{"acount_key", "account_key", 1},
		{"cache_contol", "cache_control", 1},
		{"prefx", "prefix", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3},
	} {
		assert.Equal(t, tc.want, editDistance(tc.a, tc.b), "%q to %q", tc.a, tc.b)
		assert.Equal(t, tc.want, editDistance(tc.b, tc.a), "%q to %q", tc.b, tc.a)
	}
}

func TestNearestNameIsATypoOnly(t *testing.T) {
	for name, want := range map[string]string{
		"contianer":   "container",
		"acount_key":  "account_key",
		"dial_timout": "dial_timeout",
		"ttk":         "ttl", // one edit in a short name
		"tt":          "",    // too short to guess
		"xyz":         "",    // two edits of three letters is another word
		"sas_tokn":    "sas_token",
		"endpont":     "endpoint",
		"zzzzzzzzzz":  "", // nothing near
		"redirct":     "redirect",
		"max_tll":     "max_ttl", // swap
		"tls_insecur": "",        // more than two edits from tls_insecure_skip_verify
	} {
		got := nearestName(name, []string{"container", "account_key", "ttl", "sas_token", "endpoint", "redirect", "max_ttl"}, httpTransportOptionNames)
		assert.Equal(t, want, got, "%q", name)
	}
}

// TestUnknownSubdirectiveSuggestsTheNearest: each block that takes
// options, azure_blob's, its fallback's, the transport's in reverse_proxy,
// azure_sas's and an identity's, names a misspelt option and the one meant.
func TestUnknownSubdirectiveSuggestsTheNearest(t *testing.T) {
	for _, tc := range []struct{ name, site, want string }{
		{"azure_blob", `
	azure_blob {
		contianer photos
		account mystorage
		anonymous
	}`, `unrecognized subdirective "contianer"; did you mean "container"?, at Caddyfile:3`},
		{"azure_blob's own option", `
	azure_blob {
		container photos
		account mystorage
		anonymous
		strip_prefx /a
	}`, `unrecognized subdirective "strip_prefx"; did you mean "strip_prefix"?, at Caddyfile:6`},
		{"an http transport option", `
	azure_blob {
		container photos
		account mystorage
		anonymous
		dial_timout 2s
	}`, `unrecognized subdirective "dial_timout"; did you mean "dial_timeout"?, at Caddyfile:6`},
		{"fallback", `
	azure_blob {
		container photos
		account mystorage
		anonymous
		fallback {
			containr archive
		}
	}`, `unrecognized subdirective "containr"; did you mean "container"?, at Caddyfile:7`},
		{"transport", `
	reverse_proxy https://mystorage.blob.core.windows.net {
		transport azure_blob {
			account_kye {env.AZURE_STORAGE_KEY}
		}
	}`, `unrecognized subdirective "account_kye"; did you mean "account_key"?, at Caddyfile:4`},
		{"azure_sas", `
	azure_sas {
		container uploads
		account mystorage
		account_key {env.AZURE_STORAGE_KEY}
		permisions r c
	}`, `unrecognized subdirective "permisions"; did you mean "permissions"?, at Caddyfile:6`},
		{"identity", `
	azure_blob {
		container photos
		account mystorage
		identity managed {
			key_lifetme 12h
		}
	}`, `unrecognized identity option "key_lifetme"; did you mean "key_lifetime"?, at Caddyfile:6`},
		{"nothing near", `
	azure_blob {
		container photos
		account mystorage
		anonymous
		colour blue
	}`, `unrecognized subdirective "colour", at Caddyfile:6`},
		{"a value in the wrong place is not quoted", `
	azure_blob {
		container photos
		account mystorage
		anonymous
		c2VjcmV0+a2V5= x
	}`, `unrecognized subdirective (not quoted: it may be a value in the wrong place), at Caddyfile:6`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {"+tc.site+"\n}\n"), nil)
			require.Error(t, err)
			assert.True(t, strings.HasSuffix(err.Error(), tc.want), "error %q\ndoes not end in %q", err, tc.want)
			assert.NotContains(t, err.Error(), "c2VjcmV0", "the error quotes a value")
		})
	}
}
