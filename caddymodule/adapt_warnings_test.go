package caddymodule_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// asCaddyEnv, set to 1, makes this test binary Caddy's command line, so
// that a test can run `caddy adapt` and read what it prints, as a user
// would, without building a binary.
const asCaddyEnv = "CADDY_AZURE_SAS_TEST_AS_CADDY"

func init() {
	if os.Getenv(asCaddyEnv) == "1" {
		caddycmd.Main()
		os.Exit(0)
	}
}

// runCaddyCommand runs `caddy args…` with env added to the environment and
// returns its standard output and error apart.
func runCaddyCommand(t *testing.T, env []string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), asCaddyEnv+"=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// adaptWarning is a warning `caddy adapt` printed on its standard error.
type adaptWarning struct {
	Level, Logger, Msg string
	File               string
	Line               int
}

// adaptWarnings reads the JSON log lines of stderr.
func adaptWarnings(t *testing.T, stderr []byte) []adaptWarning {
	t.Helper()
	var warnings []adaptWarning
	lines := bufio.NewScanner(bytes.NewReader(stderr))
	for lines.Scan() {
		var w adaptWarning
		require.NoError(t, json.Unmarshal(lines.Bytes(), &w), "a line of caddy adapt's standard error: %s", lines.Text())
		if w.Level == "warn" {
			warnings = append(warnings, w)
		}
	}
	return warnings
}

const literalWarning = " is written literally, or as {$VAR}, which the Caddyfile expands when it is adapted: " +
	"the value is then in the adapted JSON, in autosave.json and in the admin API's GET /config/; " +
	"write it as {env.VAR} or {file.path}, read when the config loads"

// TestLiteralSecretIsWarnedAtAdapt: a secret option of every directive
// that takes one, written literally or as {$VAR}, makes `caddy adapt`
// warn, naming the option, file and line; the value is printed nowhere
// but in the JSON itself. Placeholders resolved when the config loads,
// {env.*} and {file.*}, are not warned about.
func TestLiteralSecretIsWarnedAtAdapt(t *testing.T) {
	key, envKey := testKey(1), testKey(2)
	clientSecret := "Qx8~client-secret-" + strings.Repeat("s", 20)
	signer, err := sas.NewSharedKey("mystorage", key)
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "media", Expiry: time.Now().Add(time.Hour)}
	token, err := v.Sign(signer)
	require.NoError(t, err)
	query, err := url.ParseQuery(token.Encode())
	require.NoError(t, err)
	sig := query.Get("sig")
	secrets := map[string]string{"the account key": key, "the key in the environment": envKey, "the client secret": clientSecret,
		"the token's sig": sig, "the token's sig, escaped": url.QueryEscape(sig)}

	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	require.NoError(t, os.WriteFile(caddyfile, fmt.Appendf(nil, `{
	admin off
}
:8080 {
	azure_blob /a/* {
		account mystorage
		container photos
		account_key %[1]s
		fallback {
			account otherstorage
			account_key {$AZ_ADAPT_KEY}
		}
	}
	azure_sas /sas {
		account mystorage
		container uploads
		identity client_secret tenant-1 client-1 %[2]s
	}
	reverse_proxy /r/* https://mystorage.blob.core.windows.net {
		transport azure_blob {
			connection_string "AccountName=mystorage;AccountKey=%[1]s"
		}
	}
	azure_blob /t/* {
		account mystorage
		container media
		sas_token "%[3]s"
	}
}
`, key, clientSecret, token.Encode()), 0o600))

	stdout, stderr, err := runCaddyCommand(t, []string{"AZ_ADAPT_KEY=" + envKey}, "adapt", "--config", caddyfile)
	require.NoError(t, err, "caddy adapt: %s", stderr)
	var adapted map[string]any
	require.NoError(t, json.Unmarshal(stdout, &adapted), "caddy adapt printed more than the JSON: %s", stdout)
	assert.Contains(t, string(stdout), key, "the adapted JSON holds the key, as the warning says")
	assert.Contains(t, string(stdout), envKey, "the adapted JSON holds the key from {$VAR}, as the warning says")

	type seen struct {
		option string
		line   int
	}
	var got []seen
	for _, w := range adaptWarnings(t, stderr) {
		if assert.True(t, strings.HasSuffix(w.Msg, literalWarning), "another warning: %q", w.Msg) {
			got = append(got, seen{strings.TrimSuffix(w.Msg, literalWarning), w.Line})
			assert.Equal(t, caddyfile, w.File, "the warning's file")
			assert.Equal(t, "caddyfile", w.Logger, "the warning's logger")
		}
	}
	assert.ElementsMatch(t, []seen{
		{"account_key", 8},             // azure_blob
		{"account_key", 11},            // its fallback, as {$VAR}
		{"identity client_secret", 17}, // azure_sas
		{"connection_string", 21},      // the transport in reverse_proxy
		{"sas_token", 27},              // azure_blob again
	}, got, "warnings (option, line)")
	for what, secret := range secrets {
		assert.NotContains(t, string(stderr), secret, "caddy adapt's standard error shows %s", what)
		assert.NotContains(t, string(stderr), secret[:12], "caddy adapt's standard error shows the start of %s", what)
	}

	// Resolved when the config loads: no warning.
	keyFile, tokenFile := filepath.Join(dir, "azkey"), filepath.Join(dir, "aztoken")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	require.NoError(t, os.WriteFile(tokenFile, []byte(token.Encode()+"\n"), 0o600))
	require.NoError(t, os.WriteFile(caddyfile, fmt.Appendf(nil, `{
	admin off
}
:8080 {
	azure_blob /a/* {
		account mystorage
		container photos
		account_key {env.AZ_ADAPT_KEY}
		fallback {
			account otherstorage
			account_key {file.%[1]s}
		}
	}
	azure_sas /sas {
		account mystorage
		container uploads
		identity client_secret tenant-1 client-1 {env.AZ_CLIENT_SECRET}
	}
	reverse_proxy /r/* https://mystorage.blob.core.windows.net {
		transport azure_blob {
			connection_string "AccountName=mystorage;AccountKey={env.AZ_ADAPT_KEY}"
		}
	}
	azure_blob /t/* {
		account mystorage
		container media
		sas_token {file.%[2]s}
	}
}
`, keyFile, tokenFile), 0o600))
	stdout, stderr, err = runCaddyCommand(t, []string{"AZ_ADAPT_KEY=" + envKey}, "adapt", "--config", caddyfile)
	require.NoError(t, err, "caddy adapt: %s", stderr)
	assert.Empty(t, adaptWarnings(t, stderr), "warnings for placeholders")
	assert.NotContains(t, string(stdout), envKey, "the adapted JSON holds what {env.*} gives")
}
