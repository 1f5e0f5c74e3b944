package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// azureSASOutputs runs `caddy azure-sas args…` in-process and returns what
// it wrote to stdout and to stderr.
func azureSASOutputs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := azureSASCommand(t)
	root := cmd.Root()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// TestAzureSASCommandRefusesURLsThatCannotWork: sign refuses a plain http
// endpoint other than loopback or Azurite's development account unless
// --insecure-http, and an https-only URL to an http endpoint, saying which
// variable and how to fix it.
func TestAzureSASCommandRefusesURLsThatCannotWork(t *testing.T) {
	args := []string{"sign", "--container", "media", "--blob", "a.txt", "--permissions", "r", "--expiry", "1h"}
	with := func(extra ...string) []string { return append(append([]string(nil), args...), extra...) }
	for _, c := range []struct {
		name                  string
		connStr, account, end string
		args                  []string
		want                  string
	}{
		{"http endpoint to Azure", "", "mystorage", "http://mystorage.blob.core.windows.net", args,
			"AZURE_STORAGE_BLOB_ENDPOINT is plain http to a host other than loopback: the token would cross the network in clear text; use https, or give --insecure-http if that network is private and trusted"},
		{"http endpoint on the network", "", "myacct", "http://10.0.0.5:10000/myacct", args, "AZURE_STORAGE_BLOB_ENDPOINT is plain http"},
		{"DefaultEndpointsProtocol=http", "DefaultEndpointsProtocol=http;AccountName=mystorage;AccountKey=" + sas.DevAccountKey, "", "", args,
			"AZURE_STORAGE_CONNECTION_STRING's blob endpoint is plain http"},
		{"https-only URL to Azurite", "UseDevelopmentStorage=true", "", "", with("--https-only"),
			"--https-only: AZURE_STORAGE_CONNECTION_STRING's blob endpoint is http, so the URL could never be used (Azure refuses an https-only token over http); leave out --https-only, or use an https endpoint"},
		{"https-only URL with --insecure-http", "", "myacct", "http://10.0.0.5:10000/myacct", with("--https-only", "--insecure-http"),
			"--https-only: AZURE_STORAGE_BLOB_ENDPOINT is http"},
		{"devstoreaccount1's path on the network, with a key of its own", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + testKey(9) +
			";BlobEndpoint=http://10.0.0.5:10000/devstoreaccount1", "", "", args, "AZURE_STORAGE_CONNECTION_STRING's blob endpoint is plain http"},
	} {
		key := ""
		if c.connStr == "" {
			key = sas.DevAccountKey
		}
		commandEnv(t, c.connStr, c.account, key, c.end)
		out, err := azureSAS(t, c.args...)
		if assert.ErrorContains(t, err, c.want, c.name) {
			assert.NotContains(t, err.Error(), sas.DevAccountKey[:12], "%s: the error quotes the key", c.name)
		}
		assert.Empty(t, out, "%s: output of a refused sign", c.name)
	}

	for _, c := range []struct {
		name                  string
		connStr, account, end string
		args                  []string
		wantPrefix            string
	}{
		{"--insecure-http", "", "myacct", "http://10.0.0.5:10000/myacct", with("--insecure-http"), "http://10.0.0.5:10000/myacct/media/a.txt?"},
		{"Azurite on localhost", "", "myacct", "http://localhost:10000/myacct", args, "http://localhost:10000/myacct/media/a.txt?"},
		{"Azurite in a compose network", "", "", "http://azurite:10000/devstoreaccount1", args, "http://azurite:10000/devstoreaccount1/media/a.txt?"},
		{"https-only token alone", "UseDevelopmentStorage=true", "", "", with("--https-only", "--token-only"), "sv="},
	} {
		key := ""
		if c.connStr == "" {
			key = sas.DevAccountKey
		}
		commandEnv(t, c.connStr, c.account, key, c.end)
		got := mustSign(t, c.args[1:]...)
		// Not a testify string assertion: it would print the signature.
		assert.True(t, strings.HasPrefix(got, c.wantPrefix), "%s: %q, want %q…", c.name, sas.RedactQuery(got), c.wantPrefix)
	}
}

// TestAzureSASCommandLongLivedTokens: sign warns on stderr of a token
// without a stored policy that outlives its permissions' limit (7 days if
// it can change data, 30 if it only reads), and refuses one past a year
// unless --force; a token that names a policy has no limit.
func TestAzureSASCommandLongLivedTokens(t *testing.T) {
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	sign := func(extra ...string) []string {
		return append([]string{"sign", "--container", "media", "--token-only"}, extra...)
	}

	out, errOut, err := azureSASOutputs(t, sign("--permissions", "racwdl", "--expiry", "3650d")...)
	assert.ErrorContains(t, err, "--expiry is 3650d0h0m away, more than a year: a service SAS without a stored access policy is revoked only by rotating the account key; "+
		"name a policy with --policy, or give --force to sign it anyway")
	assert.Empty(t, out, "output of a refused sign")
	assert.Empty(t, errOut, "warnings of a refused sign")

	for _, c := range []struct {
		name string
		args []string
		warn string // "" for none
	}{
		{"ten years, forced", sign("--permissions", "racwdl", "--expiry", "3650d", "--force"),
			"warning: this token can change data (sp=racwdl) and lives 3650d0h0m, more than 7 days: " +
				"a service SAS without a stored access policy is revoked only by rotating the account key; prefer a shorter --expiry, or --policy\n"},
		{"upload for 8 days", sign("--permissions", "cw", "--expiry", "8d"), "warning: this token can change data (sp=cw) and lives 8d0h0m, more than 7 days"},
		{"upload for 7 days", sign("--permissions", "cw", "--expiry", "7d"), ""},
		{"read for 8 days", sign("--permissions", "r", "--expiry", "8d"), ""},
		{"read and list for 31 days", sign("--permissions", "rl", "--expiry", "31d"), "warning: this token only reads (sp=rl) and lives 31d0h0m, more than 30 days"},
		{"ten years under a policy", sign("--permissions", "racwdl", "--expiry", "3650d", "--policy", "uploads"), ""},
	} {
		out, errOut, err := azureSASOutputs(t, c.args...)
		if !assert.NoError(t, err, c.name) {
			continue
		}
		tok, err := sas.Parse(strings.TrimSpace(out))
		if assert.NoError(t, err, "%s: the token printed", c.name) {
			_, rawSig := sigOf(t, strings.TrimSpace(out))
			// Not assert.NotContains: it would print the signature.
			assert.False(t, strings.Contains(errOut, rawSig), "%s: the warning holds the signature", c.name)
			assert.False(t, tok.Expiry.IsZero(), "%s: no expiry signed", c.name)
		}
		if c.warn == "" {
			assert.Empty(t, errOut, "%s: a warning", c.name)
		} else {
			assert.Contains(t, errOut, c.warn, "%s: the warning", c.name)
		}
	}
}

// TestAzureSASCommandInspectRefusesKeys: an account key, or a connection
// string holding one, given to inspect is named for what it is, and never
// quoted back.
func TestAzureSASCommandInspectRefusesKeys(t *testing.T) {
	raw := make([]byte, 64)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	const keyHint = "this looks like an account key, not a SAS token or URL: keys are secrets that open the whole account, so it was not printed; " +
		"if it was pasted where others can see it, rotate it (az storage account keys renew)"
	for _, c := range []struct{ name, arg, stdin, want string }{
		{"a key", key, "", keyHint},
		{"Azurite's key", sas.DevAccountKey, "", keyHint},
		{"a key on stdin", "-", "  " + key + "\n", keyHint},
		{"a connection string", "DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=" + key + ";EndpointSuffix=core.windows.net", "",
			"this looks like a connection string with an account key, not a SAS token or URL: keys are secrets"},
		{"32 bytes of base64", base64.StdEncoding.EncodeToString(raw[:32]), "", "malformed SAS token"},
	} {
		out, err := azureSASWithInput(t, c.stdin, "inspect", c.arg)
		assert.Empty(t, out, "%s: output", c.name)
		if !assert.ErrorContains(t, err, c.want, c.name) {
			continue
		}
		for _, leak := range []string{key[:12], key[40:52], sas.DevAccountKey[:12]} {
			// Not assert.NotContains: it would print the key.
			assert.False(t, strings.Contains(err.Error(), leak), "%s: the error quotes the key", c.name)
		}
	}
}
