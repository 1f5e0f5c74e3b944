package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/needs"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// azureSASCommand builds `caddy azure-sas` as Caddy's CLI does, from the
// registered command, under a root command: cobra answers arguments a
// command without a parent has no subcommand for itself, quoting them,
// where Caddy's CLI runs the command.
func azureSASCommand(t *testing.T) *cobra.Command {
	t.Helper()
	reg, ok := caddycmd.Commands()["azure-sas"]
	require.True(t, ok, "the azure-sas command is not registered")
	cmd := &cobra.Command{Use: reg.Name + " " + reg.Usage, Short: reg.Short, Long: reg.Long, SilenceUsage: true}
	reg.CobraFunc(cmd)
	root := &cobra.Command{Use: "caddy", SilenceUsage: true}
	root.AddCommand(cmd)
	return cmd
}

// azureSAS runs `caddy azure-sas args…` in-process and returns what it
// wrote to stdout.
func azureSAS(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return azureSASWithInput(t, "", args...)
}

// azureSASWithInput is azureSAS with stdin as the command's standard input.
func azureSASWithInput(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := azureSASCommand(t)
	root := cmd.Root()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	err := root.Execute()
	return out.String(), err
}

// mustSign runs sign and returns its one line of output.
func mustSign(t *testing.T, args ...string) string {
	t.Helper()
	out, err := azureSAS(t, append([]string{"sign"}, args...)...)
	require.NoError(t, err, "sign %s", strings.Join(args, " "))
	// The output is not quoted: it holds a signature.
	require.Equal(t, 1, strings.Count(out, "\n"), "lines sign printed")
	require.True(t, strings.HasSuffix(out, "\n"), "sign printed a line without its end")
	return strings.TrimSuffix(out, "\n")
}

// commandEnv sets the command's environment; "" unsets a variable (the
// command reads an empty one as unset), so the caller's shell cannot leak in.
func commandEnv(t *testing.T, connStr, account, key, endpoint string) {
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", connStr)
	t.Setenv("AZURE_STORAGE_ACCOUNT", account)
	t.Setenv("AZURE_STORAGE_KEY", key)
	t.Setenv("AZURE_STORAGE_BLOB_ENDPOINT", endpoint)
}

// curlStatus runs curl with args and the URL last, and returns the status.
func curlStatus(t *testing.T, rawURL string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		needs.Missing(t, "curl is not on PATH: apt-get install curl, or ./xcaddy.sh test")
	}
	args = append([]string{"-sS", "-o", os.DevNull, "-w", "%{http_code}"}, args...)
	out, err := exec.Command(bin, append(args, rawURL)...).CombinedOutput()
	// curl's own messages may quote the URL: show neither, only the exit
	// status.
	require.NoError(t, err, "curl failed")
	return string(out)
}

// sigOf returns the signature of a signed URL or token, decoded and as
// written in the query.
func sigOf(t *testing.T, signed string) (decoded, raw string) {
	t.Helper()
	_, query, _ := strings.Cut(signed, "?")
	if !strings.Contains(signed, "?") {
		query = signed
	}
	for part := range strings.SplitSeq(query, "&") {
		if name, value, _ := strings.Cut(part, "="); name == "sig" {
			d, err := url.QueryUnescape(value)
			require.NoError(t, err, "sig is not escaped right")
			// Not require.Len: it would print the signature.
			require.Equal(t, 44, len(d), "sig is not a base64 SHA-256: characters")
			return d, value
		}
	}
	require.Fail(t, "no sig in the signed output")
	return "", ""
}

// TestAzureSASCommandAzurite: URLs the command signs upload, download and
// list against Azurite, and a read URL cannot write.
func TestAzureSASCommandAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "media", false)
	commandEnv(t, "", az.Account, az.Key, az.Endpoint)

	data := make([]byte, 256<<10+17)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "x.bin")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	put := []string{"-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-H", "x-ms-version: " + sas.DefaultVersion, "--data-binary", "@" + file}

	for _, blob := range []string{"up/x.bin", "up/a b#1+%.bin"} {
		writeURL := mustSign(t, "--container", "media", "--blob", blob, "--permissions", "cw", "--expiry", "10m")
		wantPrefix := az.BlobURL("media", blob) + "?"
		// Here and below, not a testify string assertion: it would print
		// the URL with its signature.
		require.True(t, strings.HasPrefix(writeURL, wantPrefix), "write URL starts %q, want %q", sas.RedactQuery(writeURL), wantPrefix)
		require.Equal(t, "201", curlStatus(t, writeURL, put...), "%s: upload with the write URL", blob)

		readURL := mustSign(t, "--container", "media", "--blob", blob, "--permissions", "r", "--expiry", "10m")
		resp, body := azurite.Fetch(t, "GET", readURL, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: download with the read URL", blob)
		// Not require.Equal: a diff of 256 KiB of random bytes says less.
		require.True(t, bytes.Equal(body, data), "%s: download with the read URL: %d bytes, want the %d uploaded",
			blob, len(body), len(data))
		t.Logf("%s: PUT with the cw URL 201, GET with the r URL 200, %d bytes identical", blob, len(body))

		require.Equal(t, "403", curlStatus(t, readURL, put...), "%s: upload with the read URL", blob)
		resp, _ = azurite.Fetch(t, "GET", writeURL, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: download with the write URL", blob)
	}

	listURL := mustSign(t, "--container", "media", "--permissions", "rl", "--expiry", "10m")
	want := az.Endpoint + "/media?"
	require.True(t, strings.HasPrefix(listURL, want), "container URL %q, want %q…", sas.RedactQuery(listURL), want)
	listToken, err := sas.Parse(strings.TrimPrefix(listURL, want))
	require.NoError(t, err, "container URL's token")
	require.Equal(t, sas.ResourceContainer, listToken.Resource, "container URL's sr")
	require.Equal(t, "rl", listToken.PermissionString(), "container URL's sp")
	resp, body := azurite.Fetch(t, "GET", listURL+"&restype=container&comp=list", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "listing with the rl container URL")
	require.Contains(t, string(body), "<Name>up/x.bin</Name>", "listing with the rl container URL")
	require.Contains(t, string(body), "<Name>up/a b#1+%.bin</Name>", "listing with the rl container URL")
	require.Equal(t, "200", curlStatus(t, listURL+"&restype=container&comp=list", "-H", "x-ms-version: "+sas.DefaultVersion),
		"listing through curl")
	t.Log("container URL with rl lists both blobs (200)")
}

// TestAzureSASCommandSign checks what sign prints without a server: the
// token verifies with the key for the resource the URL names.
func TestAzureSASCommandSign(t *testing.T) {
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	// Not --https-only: Azurite's endpoint is http (TestAzureSASCommandRefusesURLsThatCannotWork).
	signed := mustSign(t, "--container", "media", "--blob", "in/clip 1.mp4", "--permissions", "r", "--expiry", "1h",
		"--start", "-15m", "--ip", "1.2.3.4-1.2.3.9", "--content-type", "video/mp4",
		"--cache-control", "max-age=60", "--content-disposition", "attachment", "--content-encoding", "gzip",
		"--content-language", "en")
	want := sas.DevBlobEndpoint + "/media/in/clip%201.mp4?"
	require.True(t, strings.HasPrefix(signed, want), "URL starts %q, want %q", sas.RedactQuery(signed), want)
	_, query, _ := strings.Cut(signed, "?")
	tok, err := sas.Parse(query)
	require.NoError(t, err)
	require.NoError(t, tok.VerifyService(key, "media", "in/clip 1.mp4", ""), "signature")
	now := time.Now()
	assert.Equal(t, sas.ResourceBlob, tok.Resource, "sr")
	assert.Equal(t, "r", tok.PermissionString(), "sp")
	assert.Equal(t, sas.ProtocolAny, tok.Protocol, "spr")
	assert.Equal(t, "1.2.3.4-1.2.3.9", tok.IPRange, "sip")
	assert.Equal(t, "video/mp4", tok.ContentType, "rsct")
	assert.Equal(t, "max-age=60", tok.CacheControl, "rscc")
	assert.Equal(t, sas.DefaultVersion, tok.Version, "sv")
	assert.Equal(t, "attachment", tok.ContentDisposition, "rscd")
	assert.Equal(t, "gzip", tok.ContentEncoding, "rsce")
	assert.Equal(t, "en", tok.ContentLanguage, "rscl")
	assert.WithinRange(t, tok.Start, now.Add(-16*time.Minute), now.Add(-14*time.Minute), "start, want about 15m ago")
	assert.WithinRange(t, tok.Expiry, now.Add(59*time.Minute), now.Add(time.Hour), "expiry, want in about 1h")

	// A token alone may be https-only: it can go to another endpoint. Years
	// without a policy take --force.
	token := mustSign(t, "--container", "media", "--permissions", "racwdl", "--expiry", "2031-02-03T04:05:06Z", "--token-only",
		"--version", "2019-02-02", "--https-only", "--force")
	require.False(t, strings.Contains(token, "?"), "--token-only printed %q", sas.RedactQuery(token))
	require.True(t, strings.HasPrefix(token, "sv=2019-02-02&"), "--token-only printed %q", sas.RedactQuery(token))
	tok, err = sas.Parse(token)
	require.NoError(t, err)
	assert.NoError(t, tok.VerifyService(key, "media", "", ""), "container token's signature")
	assert.Equal(t, sas.ResourceContainer, tok.Resource, "container token's sr")
	assert.Equal(t, "racwdl", tok.PermissionString(), "container token's sp")
	assert.Equal(t, sas.ProtocolHTTPS, tok.Protocol, "container token's spr")
	assert.WithinDuration(t, time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC), tok.Expiry, 0, "container token's se")

	policy := mustSign(t, "--container", "media", "--blob", "a.txt", "--policy", "readers", "--token-only")
	tok, err = sas.Parse(policy)
	require.NoError(t, err, "policy token")
	assert.NoError(t, tok.VerifyService(key, "media", "a.txt", ""), "policy token's signature")
	assert.Equal(t, sas.ResourceBlob, tok.Resource, "policy token's sr")
	assert.Equal(t, "readers", tok.Identifier, "policy token's si")
	assert.Empty(t, tok.PermissionString(), "policy token's sp: the policy has them")
	assert.True(t, tok.Expiry.IsZero(), "policy token's se %s: the policy has it", tok.Expiry)
}

// TestAzureSASCommandFlagErrors: bad flags fail with a message naming the
// flag, before the environment is read.
func TestAzureSASCommandFlagErrors(t *testing.T) {
	commandEnv(t, "", "", "", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--permissions", "r", "--expiry", "1h"}, "--container is required"},
		{[]string{"--container", "Media", "--permissions", "r", "--expiry", "1h"}, "--container is not a container name"},
		{[]string{"--container", "media", "--expiry", "1h"}, "--permissions is required"},
		{[]string{"--container", "media", "--permissions", "r"}, "--expiry is required"},
		{[]string{"--container", "media", "--blob", "a", "--permissions", "rf", "--expiry", "1h"}, "--permissions: 'f' is not valid in blob SAS"},
		{[]string{"--container", "media", "--permissions", "rq", "--expiry", "1h"}, "--permissions: 'q'"},
		{[]string{"--container", "media", "--permissions", "r", "--expiry", "soon"}, `--expiry is neither a duration`},
		{[]string{"--container", "media", "--permissions", "r", "--expiry", "-1h"}, "is not in the future"},
		{[]string{"--container", "media", "--blob", "/a", "--permissions", "r", "--expiry", "1h"}, "--blob starts with '/'"},
		{[]string{"--container", "media", "--blob", "a/../b", "--permissions", "r", "--expiry", "1h"}, `--blob: blob name has a "." or ".." segment`},
		{[]string{"--container", "media", "--permissions", "r", "--expiry", "1h", "extra"}, "takes only flags"},
	} {
		out, err := azureSAS(t, append([]string{"sign"}, c.args...)...)
		assert.ErrorContains(t, err, c.want, "%v", c.args)
		assert.Empty(t, out, "%v: output of a failed sign", c.args)
	}
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--start", "2h"}, "expiry (se) must be after start (st)"},
		{[]string{"--ip", "1.2.3"}, "IP range (sip)"},
		// The version is not quoted (sas no longer quotes it).
		{[]string{"--version", "2010-01-01"}, "signed version is not a known Azure Storage service version"},
	} {
		args := append([]string{"sign", "--container", "media", "--permissions", "r", "--expiry", "1h"}, c.args...)
		out, err := azureSAS(t, args...)
		assert.ErrorContains(t, err, c.want, "%v", c.args)
		assert.Empty(t, out, "%v: output of a failed sign", c.args)
	}
}

// TestAzureSASCommandCredentials: the key comes only from the environment,
// a missing one names the variables, and no error quotes a key.
func TestAzureSASCommandCredentials(t *testing.T) {
	root := azureSASCommand(t)
	sign, _, err := root.Find([]string{"sign"})
	require.NoError(t, err, "no sign subcommand")
	require.Equal(t, "sign", sign.Name(), "no sign subcommand")
	for _, name := range []string{"key", "account-key", "connection-string", "sas-token", "account", "sig"} {
		assert.Nil(t, sign.Flags().Lookup(name), "sign has a --%s flag", name)
	}
	args := []string{"sign", "--container", "media", "--permissions", "r", "--expiry", "1h"}

	with := func(extra ...string) []string { return append(slices.Clone(args), extra...) }

	const badKey = "c2VjcmV0LWtleS10aGF0LWlzLW5vdA*is-not-base64=="
	for _, c := range []struct {
		name string
		args []string
		want []string // what the error says
	}{
		{"--account-key", with("--account-key=" + badKey), []string{"unknown flag --account-key", "environment"}},
		{"-k", with("-k" + badKey), []string{"unknown flag -k:", "environment"}},
		{"positional key", with(badKey), []string{"takes only flags"}},
		// A key pasted into another flag is not quoted back either.
		{"key in --container", with("--container", badKey), []string{"--container is not a container name"}},
		{"key in --expiry", with("--expiry", badKey), []string{"--expiry is neither a duration"}},
		{"key in --https-only=", with("--https-only=" + badKey), []string{"--https-only: not a valid value"}},
		{"key in --token-only=", with("--token-only=" + badKey), []string{"--token-only: not a valid value"}},
	} {
		out, err := azureSAS(t, c.args...)
		if !assert.Error(t, err, c.name) {
			continue
		}
		for _, w := range c.want {
			assert.ErrorContains(t, err, w, c.name)
		}
		assert.NotContains(t, err.Error(), badKey[:10], "%s: the error quotes the key", c.name)
		assert.Empty(t, out, "%s: output of a failed sign", c.name)
	}
	for _, sub := range []string{"sig", badKey} {
		out, err := azureSAS(t, sub)
		if assert.ErrorContains(t, err, "unknown subcommand: use sign or inspect", "an unknown subcommand") {
			assert.NotContains(t, err.Error(), badKey[:10], "the error quotes the key")
		}
		assert.Empty(t, out, "output of an unknown subcommand")
	}

	for _, c := range []struct {
		name                            string
		connStr, account, key, endpoint string
		want                            []string
	}{
		{"nothing", "", "", "", "", []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_BLOB_ENDPOINT", "never taken from a flag"}},
		{"account only", "", "mystorage", "", "", []string{"AZURE_STORAGE_KEY is not set"}},
		{"bad key", "", "mystorage", badKey, "", []string{"AZURE_STORAGE_KEY", "not valid base64"}},
		{"bad key in connection string", "AccountName=mystorage;AccountKey=" + badKey, "", "", "", []string{"AZURE_STORAGE_CONNECTION_STRING", "AccountKey"}},
		{"connection string with a SAS", "BlobEndpoint=https://mystorage.blob.core.windows.net;SharedAccessSignature=sv=2019-02-02&sr=b&sp=r&se=2030-01-01&sig=koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D", "", "", "", []string{"has no AccountKey"}},
		{"both", "UseDevelopmentStorage=true", "", badKey, "", []string{"both AZURE_STORAGE_CONNECTION_STRING and AZURE_STORAGE_KEY"}},
		{"other account's endpoint", "", "mystorage", sas.DevAccountKey, "https://other.blob.core.windows.net", []string{`"other"`, "AZURE_STORAGE_BLOB_ENDPOINT"}},
		// As the transport always did: a URL for one account at another's
		// endpoint cannot work, and the error names where each came from.
		{"connection string naming two accounts", "AccountName=mystorage;AccountKey=" + sas.DevAccountKey + ";BlobEndpoint=https://other.blob.core.windows.net", "", "", "",
			[]string{`AZURE_STORAGE_CONNECTION_STRING AccountName "mystorage" differs from the account "other" that AZURE_STORAGE_CONNECTION_STRING BlobEndpoint names`}},
		{"endpoint with a query", "", "mystorage", sas.DevAccountKey, "https://mystorage.blob.core.windows.net/?sig=" + badKey, []string{"AZURE_STORAGE_BLOB_ENDPOINT must not carry a query"}},
		// A key in the account's variable is checked before anything quotes it.
		{"key in the account beside a connection string", "AccountName=mystorage;AccountKey=" + sas.DevAccountKey, sas.DevAccountKey, "", "", []string{"AZURE_STORAGE_ACCOUNT: account name is 88 characters"}},
		{"key in the account beside an endpoint", "", badKey, sas.DevAccountKey, "https://mystorage.blob.core.windows.net", []string{"AZURE_STORAGE_ACCOUNT: account name"}},
		{"key in the account, short", "", "AbC+dEf/GhI=", sas.DevAccountKey, "https://mystorage.blob.core.windows.net", []string{"AZURE_STORAGE_ACCOUNT: account name may hold only lowercase letters and digits"}},
	} {
		commandEnv(t, c.connStr, c.account, c.key, c.endpoint)
		out, err := azureSAS(t, args...)
		if !assert.Error(t, err, c.name) {
			continue
		}
		for _, w := range c.want {
			assert.ErrorContains(t, err, w, c.name)
		}
		for _, secret := range []string{badKey, badKey[:12], badKey[len(badKey)-16:], sas.DevAccountKey[:12], "koLniLcK0t", "AbC+dEf/GhI="} {
			assert.NotContains(t, err.Error(), secret, "%s: error quotes a secret", c.name)
		}
		assert.Empty(t, out, "%s: output of a failed sign", c.name)
	}

	// The key without an account, when the endpoint names it (Azurite).
	commandEnv(t, "", "", sas.DevAccountKey, sas.DevBlobEndpoint)
	got := mustSign(t, args[1:]...)
	assert.True(t, strings.HasPrefix(got, sas.DevBlobEndpoint+"/media?"), "account from the endpoint: %q", sas.RedactQuery(got))
	// The default endpoint of an account.
	commandEnv(t, "", "mystorage", sas.DevAccountKey, "")
	got = mustSign(t, args[1:]...)
	assert.True(t, strings.HasPrefix(got, "https://mystorage.blob.core.windows.net/media?"), "default endpoint: %q", sas.RedactQuery(got))
}

// TestAzureSASCommandInspect: inspect prints every field and never the
// signature, and fails on a malformed token without quoting it.
func TestAzureSASCommandInspect(t *testing.T) {
	// An https endpoint: the URL is --https-only.
	const endpoint = "https://127.0.0.1:10000/" + sas.DevAccountName
	commandEnv(t, "", sas.DevAccountName, sas.DevAccountKey, endpoint)
	signed := mustSign(t, "--container", "media", "--blob", "up/x y.bin", "--permissions", "rcw", "--expiry", "10m",
		"--start", "-15m", "--ip", "1.2.3.4", "--https-only", "--content-type", "video/mp4", "--policy", "uploads")
	sig, rawSig := sigOf(t, signed)
	_, token, _ := strings.Cut(signed, "?")

	for _, arg := range []string{signed, token, "?" + token, signed + "&restype=container&comp=list"} {
		out, err := azureSAS(t, "inspect", arg)
		require.NoError(t, err, "inspect")
		for _, leak := range []string{sig, rawSig, "sig=" + rawSig, "sig=" + sig, url.QueryEscape(sig), sig[:16]} {
			// Not require.NotContains: it would print the signature.
			require.False(t, strings.Contains(out, leak), "inspect printed the signature:\n%s", sas.RedactQuery(out))
		}
		want := []string{
			"kind            service SAS", "version         " + sas.DefaultVersion, "resource        b: one blob",
			"permissions     rcw", "r  read:", "c  create:", "w  write:", "access          can change data",
			"ago)", "(expires in ", "ip              1.2.3.4", "protocol        https only",
			"policy          uploads", "Content-Type: video/mp4 (rsct)", "signature       REDACTED", "sig=REDACTED",
		}
		if strings.HasPrefix(arg, "http") {
			want = append(want, "url             "+endpoint+"/media/up/x%20y.bin", "account         devstoreaccount1",
				"container       media", "blob            up/x y.bin")
		}
		if strings.HasSuffix(arg, "comp=list") {
			want = append(want, "request params  restype, comp")
		}
		for _, w := range want {
			assert.Contains(t, out, w, "inspect output")
		}
		if arg == signed {
			t.Logf("inspect output:\n%s", out)
		}
	}

	// inspect - reads the URL or token from standard input, so it stays out
	// of ps and the shell's history; it says the same as the argument.
	fromArg, err := azureSAS(t, "inspect", signed)
	require.NoError(t, err)
	fromStdin, err := azureSASWithInput(t, "  "+signed+"\n", "inspect", "-")
	require.NoError(t, err, "inspect -")
	assert.Equal(t, replaceTimesLeft(fromArg), replaceTimesLeft(fromStdin), "inspect - and inspect <url> differ")
	for _, c := range []struct{ name, stdin, want string }{
		{"empty", " \n", "standard input is empty: give a SAS URL or token on it"},
		{"too much", strings.Repeat(signed, 64<<10/len(signed)+1), "standard input holds more than 64 KiB"},
		{"not a token", "hello " + rawSig, "malformed SAS token"},
	} {
		out, err := azureSASWithInput(t, c.stdin, "inspect", "-")
		if assert.ErrorContains(t, err, c.want, "inspect - with %s input", c.name) {
			assert.False(t, strings.Contains(err.Error(), rawSig[:12]), "inspect - with %s input: the error quotes the signature", c.name)
		}
		assert.Empty(t, out, "inspect - with %s input: output", c.name)
	}

	expired := "sv=2019-02-02&st=2019-04-29T22%3A18%3A26Z&se=2019-04-30T02%3A23%3A26Z&sr=b&sp=rw&sip=168.1.5.60-168.1.5.70&spr=https&sig=koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"
	out, err := azureSAS(t, "inspect", expired)
	if assert.NoError(t, err, "expired token") {
		assert.Contains(t, out, "(EXPIRED ", "expired token")
		assert.NotContains(t, out, "koLniLcK0t", "expired token: the signature printed")
	}
	account := "sv=2022-11-02&ss=bf&srt=sco&sp=rl&se=2099-01-01T00%3A00%3A00Z&sig=koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"
	out, err = azureSAS(t, "inspect", account)
	if assert.NoError(t, err, "account SAS") {
		for _, w := range []string{"account SAS", "services        bf", "b  blob", "resource types  sco", "o  object", "access          read-only"} {
			assert.Contains(t, out, w, "account SAS")
		}
		assert.NotContains(t, out, "koLniLcK0t", "account SAS: the signature printed")
	}

	for _, c := range []struct{ name, arg, want string }{
		{"no sr", strings.Replace(token, "sr=b&", "", 1), "malformed SAS token: SAS token has no signed resource (sr)"},
		// Cut the decoded signature, not its escaped form: a cut in the
		// middle of a %2B would be another error.
		{"bad sig", strings.Replace(token, rawSig, url.QueryEscape(sig[:20]), 1), "malformed SAS token: SAS token signature (sig) is not"},
		{"no sig", strings.Replace(token, "&sig="+rawSig, "", 1), "malformed SAS token: SAS token has no signature"},
		{"not a token", "hello", "malformed SAS token"},
		{"URL without a token", sas.DevBlobEndpoint + "/media/a.txt", "carries no SAS token"},
		{"URL with a fragment", strings.Replace(signed, "%2F", "#", 1), "has a '#'"},
		{"unescaped plus", strings.Replace(rawSigToken(token, rawSig), "%2B", "+", 1), "malformed SAS token: SAS token signature (sig) is not"},
	} {
		out, err := azureSAS(t, "inspect", c.arg)
		assert.Empty(t, out, "%s: output of a failed inspect", c.name)
		if !assert.ErrorContains(t, err, c.want, c.name) {
			continue
		}
		for _, leak := range []string{sig[:12], rawSig[:12], rawSig[len(rawSig)-12:]} {
			// Not assert.NotContains: it would print the signature.
			assert.False(t, strings.Contains(err.Error(), leak), "%s: the error quotes the signature", c.name)
		}
	}
	_, err = azureSAS(t, "inspect")
	assert.ErrorContains(t, err, "one argument", "inspect with no argument")
}

// replaceTimesLeft blanks the "(… ago)" and "(expires in …)" of inspect's
// output, which move on between two runs.
func replaceTimesLeft(out string) string {
	return timesLeft.ReplaceAllString(out, "(…)")
}

var timesLeft = regexp.MustCompile(`\((expires in |EXPIRED )?[0-9hms.]+( ago)?\)`)

// rawSigToken returns token with a signature that holds a '+', as a token
// pasted unescaped would: the case Azure answers 403 to.
func rawSigToken(token, rawSig string) string {
	return strings.Replace(token, rawSig, "koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D", 1)
}
