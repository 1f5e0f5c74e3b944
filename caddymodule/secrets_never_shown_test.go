package caddymodule_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestNoSecretAnywhere runs Caddy at debug level with every path under test
// (success, ranges, errors, a key Azure refuses) and looks for the key, the
// tokens and any sig in the log, the responses and the admin API's config.
func TestNoSecretAnywhere(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	az.CreateContainer(t, "media", false)
	az.Upload(t, "photos", "cat.jpg", []byte("JPEGDATA"), "image/jpeg")
	az.Upload(t, "media", "clip.webm", []byte("WEBMDATA"), "video/webm")
	wrongKey := "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ=="
	token := mediaToken(t, az.Key)
	addSecret("the wrong key", wrongKey)
	t.Setenv("AZ_TEST_KEY", az.Key)
	t.Setenv("AZ_WRONG_KEY", wrongKey)
	t.Setenv("AZ_MEDIA_TOKEN", token)
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	log {
		output file %[2]s
		format json
	}
	handle_path /images/* {
		azure_blob {
			endpoint %[1]s
			container photos
			account_key {env.AZ_TEST_KEY}
		}
	}
	handle_path /media/* {
		azure_blob {
			endpoint %[1]s
			container media
			sas_token {env.AZ_MEDIA_TOKEN}
		}
	}
	handle_path /rotated/* {
		azure_blob {
			endpoint %[1]s
			container photos
			account_key {env.AZ_WRONG_KEY}
			scope container
		}
	}
	handle_errors {
		respond "error {err.status_code}: {err.message}"
	}
}`, az.Endpoint, logFile))

	var responses strings.Builder
	for _, tc := range []struct {
		method, path, rangeHeader string
		status                    int
	}{
		{"GET", "/images/cat.jpg?sig=client&sv=1", "", 200},
		{"GET", "/images/cat.jpg", "bytes=-4", 206},
		{"HEAD", "/media/clip.webm", "", 200},
		{"GET", "/images/missing.jpg", "", 404},
		{"GET", "/images/a%00b", "", 400},
		{"PUT", "/images/cat.jpg", "", 405},
		{"GET", "/rotated/cat.jpg", "", 502},
	} {
		resp, body := fetch(t, tester, tc.method, tc.path, "Range", tc.rangeHeader)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		fmt.Fprintf(&responses, "%d %v %s\n", resp.StatusCode, resp.Header, body)
	}
	config := adminGet(t, "/config/")
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)

	tokenSig := strings.TrimPrefix(token[strings.Index(token, "sig="):], "sig=")
	secrets := map[string]string{
		"account key": az.Key[:24], "wrong key": wrongKey[:24], "sas_token": token, "the token's sig": tokenSig,
		"a sig parameter": "sig=", "an escaped sig parameter": "sig%3D",
	}
	for where, text := range map[string]string{"log": string(logs), "responses": responses.String(), "GET /config/": string(config)} {
		for what, secret := range secrets {
			if what == "a sig parameter" && where == "log" {
				// The client's own ?sig=client is logged as the client sent it.
				text = strings.ReplaceAll(text, "sig=client", "")
			}
			assert.NotContains(t, text, secret, "%s shows %s", where, what)
		}
	}
	assert.Contains(t, string(logs), `"azure_error_code":"AuthorizationFailure"`, "the refused key was not logged with Azure's error code")
	assert.GreaterOrEqual(t, bytes.Count(logs, []byte(`"msg":"azure blob request","container":"photos","blob":"cat.jpg"`)), 3,
		"upstream requests for cat.jpg logged; the refused one should have been tried twice")
	assert.Contains(t, string(logs), `"msg":"mapped request to blob"`, "no debug log of the mapping: was debug logging on?")
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
			// name, never the key. A blob prefix may be the key's text
			// itself ({$VAR}): Azure would look for blobs under it. A
			// prefix resolves placeholders per request, but not {env.*}.
			if loads := name == "prefix" && value[1] == '$' || value[1] == 'e' && name == "index"; loads {
				assert.NoError(t, err, "%s = %s", name, value)
				continue
			}
			require.Error(t, err, "%s = %s: the config loaded", name, value)
			for i := 0; i+12 <= len(key); i++ { // no 12 characters of it, wherever they start
				if !assert.NotContains(t, err.Error(), key[i:i+12], "%s = %s: the error quotes the key", name, value) {
					break
				}
			}
		}
	}
}
