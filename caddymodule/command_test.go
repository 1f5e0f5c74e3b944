package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
)

// azureSASCommand builds `caddy azure-sas` as Caddy's CLI does, from the
// registered command.
func azureSASCommand(t *testing.T) *cobra.Command {
	t.Helper()
	reg, ok := caddycmd.Commands()["azure-sas"]
	if !ok {
		t.Fatal("the azure-sas command is not registered")
	}
	cmd := &cobra.Command{Use: reg.Name + " " + reg.Usage, Short: reg.Short, Long: reg.Long, SilenceUsage: true}
	reg.CobraFunc(cmd)
	return cmd
}

// azureSAS runs `caddy azure-sas args…` in-process and returns what it
// wrote to stdout.
func azureSAS(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := azureSASCommand(t)
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// mustSign runs sign and returns its one line of output.
func mustSign(t *testing.T, args ...string) string {
	t.Helper()
	out, err := azureSAS(t, append([]string{"sign"}, args...)...)
	if err != nil {
		t.Fatalf("sign %s: %v", strings.Join(args, " "), err)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("sign printed %d lines, want one", strings.Count(out, "\n"))
	}
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
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not on PATH")
		}
		t.Skip("curl is not on PATH")
	}
	args = append([]string{"-sS", "-o", os.DevNull, "-w", "%{http_code}"}, args...)
	out, err := exec.Command(bin, append(args, rawURL)...).CombinedOutput()
	if err != nil {
		// curl's own messages may quote the URL: show neither.
		t.Fatalf("curl failed: %v", err)
	}
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
			if err != nil || len(d) != 44 {
				t.Fatalf("sig is not a base64 SHA-256 (%d characters)", len(d))
			}
			return d, value
		}
	}
	t.Fatal("no sig in the signed output")
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
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	put := []string{"-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "-H", "x-ms-version: " + sas.DefaultVersion, "--data-binary", "@" + file}

	for _, blob := range []string{"up/x.bin", "up/a b#1+%.bin"} {
		writeURL := mustSign(t, "--container", "media", "--blob", blob, "--permissions", "cw", "--expiry", "10m")
		wantPrefix := az.BlobURL("media", blob) + "?"
		if !strings.HasPrefix(writeURL, wantPrefix) {
			t.Fatalf("write URL starts %q, want %q", sas.RedactQuery(writeURL), wantPrefix)
		}
		if got := curlStatus(t, writeURL, put...); got != "201" {
			t.Fatalf("%s: upload with the write URL: status %s, want 201", blob, got)
		}

		readURL := mustSign(t, "--container", "media", "--blob", blob, "--permissions", "r", "--expiry", "10m")
		resp, body := azurite.Fetch(t, "GET", readURL, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("%s: download with the read URL: status %d, %d bytes (equal: %v), want 200 and the %d uploaded",
				blob, resp.StatusCode, len(body), bytes.Equal(body, data), len(data))
		}
		t.Logf("%s: PUT with the cw URL 201, GET with the r URL 200, %d bytes identical", blob, len(body))

		if got := curlStatus(t, readURL, put...); got != "403" {
			t.Fatalf("%s: upload with the read URL: status %s, want 403", blob, got)
		}
		if resp, _ := azurite.Fetch(t, "GET", writeURL, nil); resp.StatusCode != 403 {
			t.Fatalf("%s: download with the write URL: status %d, want 403", blob, resp.StatusCode)
		}
	}

	listURL := mustSign(t, "--container", "media", "--permissions", "rl", "--expiry", "10m")
	if want := az.Endpoint + "/media?"; !strings.HasPrefix(listURL, want) || !strings.Contains(listURL, "sr=c") {
		t.Fatalf("container URL %q, want %q… with sr=c", sas.RedactQuery(listURL), want)
	}
	resp, body := azurite.Fetch(t, "GET", listURL+"&restype=container&comp=list", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Name>up/x.bin</Name>")) ||
		!bytes.Contains(body, []byte("<Name>up/a b#1+%.bin</Name>")) {
		t.Fatalf("listing with the rl container URL: status %d, want 200 naming both blobs", resp.StatusCode)
	}
	if got := curlStatus(t, listURL+"&restype=container&comp=list", "-H", "x-ms-version: "+sas.DefaultVersion); got != "200" {
		t.Fatalf("listing through curl: status %s, want 200", got)
	}
	t.Log("container URL with rl lists both blobs (200)")
}

// TestAzureSASCommandSign checks what sign prints without a server: the
// token verifies with the key for the resource the URL names.
func TestAzureSASCommandSign(t *testing.T) {
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	signed := mustSign(t, "--container", "media", "--blob", "in/clip 1.mp4", "--permissions", "r", "--expiry", "1h",
		"--start", "-15m", "--ip", "1.2.3.4-1.2.3.9", "--https-only", "--content-type", "video/mp4",
		"--cache-control", "max-age=60", "--content-disposition", "attachment", "--content-encoding", "gzip",
		"--content-language", "en")
	if want := sas.DevBlobEndpoint + "/media/in/clip%201.mp4?"; !strings.HasPrefix(signed, want) {
		t.Fatalf("URL starts %q, want %q", sas.RedactQuery(signed), want)
	}
	_, query, _ := strings.Cut(signed, "?")
	tok, err := sas.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.VerifyService(key, "media", "in/clip 1.mp4", ""); err != nil {
		t.Fatalf("signature: %v", err)
	}
	now := time.Now()
	if tok.Resource != sas.ResourceBlob || tok.PermissionString() != "r" || tok.Protocol != sas.ProtocolHTTPS ||
		tok.IPRange != "1.2.3.4-1.2.3.9" || tok.ContentType != "video/mp4" || tok.CacheControl != "max-age=60" ||
		tok.Version != sas.DefaultVersion || tok.ContentDisposition != "attachment" || tok.ContentEncoding != "gzip" ||
		tok.ContentLanguage != "en" {
		t.Fatalf("token fields: %v", tok)
	}
	if d := now.Sub(tok.Start); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("start is %v ago, want about 15m", d)
	}
	if d := tok.Expiry.Sub(now); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expiry is in %v, want about 1h", d)
	}

	token := mustSign(t, "--container", "media", "--permissions", "racwdl", "--expiry", "2031-02-03T04:05:06Z", "--token-only",
		"--version", "2019-02-02")
	if strings.Contains(token, "?") || !strings.HasPrefix(token, "sv=2019-02-02&") {
		t.Fatalf("--token-only printed %q", sas.RedactQuery(token))
	}
	tok, err = sas.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.VerifyService(key, "media", "", ""); err != nil || tok.Resource != sas.ResourceContainer ||
		tok.PermissionString() != "racwdl" || !tok.Expiry.Equal(time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)) {
		t.Fatalf("container token: %v, sr=%s sp=%s se=%s", err, tok.Resource, tok.PermissionString(), tok.Expiry)
	}

	policy := mustSign(t, "--container", "media", "--blob", "a.txt", "--policy", "readers", "--token-only")
	if tok, err := sas.Parse(policy); err != nil || tok.Identifier != "readers" || tok.PermissionString() != "" || !tok.Expiry.IsZero() {
		t.Fatalf("policy token: %v %v", err, tok)
	}
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
		_, err := azureSAS(t, append([]string{"sign"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to contain %q", c.args, err, c.want)
		}
	}
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--start", "2h"}, "expiry (se) must be after start (st)"},
		{[]string{"--ip", "1.2.3"}, "IP range (sip)"},
		{[]string{"--version", "2010-01-01"}, `signed version "2010-01-01" is not a known`},
	} {
		args := append([]string{"sign", "--container", "media", "--permissions", "r", "--expiry", "1h"}, c.args...)
		if _, err := azureSAS(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to contain %q", c.args, err, c.want)
		}
	}
}

// TestAzureSASCommandCredentials: the key comes only from the environment,
// a missing one names the variables, and no error quotes a key.
func TestAzureSASCommandCredentials(t *testing.T) {
	root := azureSASCommand(t)
	sign, _, err := root.Find([]string{"sign"})
	if err != nil || sign.Name() != "sign" {
		t.Fatalf("no sign subcommand: %v", err)
	}
	for _, name := range []string{"key", "account-key", "connection-string", "sas-token", "account", "sig"} {
		if sign.Flags().Lookup(name) != nil {
			t.Errorf("sign has a --%s flag", name)
		}
	}
	args := []string{"sign", "--container", "media", "--permissions", "r", "--expiry", "1h"}

	const badKey = "c2VjcmV0LWtleS10aGF0LWlzLW5vdA*is-not-base64=="
	if _, err := azureSAS(t, append(args, "--account-key="+badKey)...); err == nil ||
		strings.Contains(err.Error(), badKey) || !strings.Contains(err.Error(), "environment") {
		t.Errorf("--account-key: %v", err)
	}
	if _, err := azureSAS(t, append(args, "-k"+badKey)...); err == nil || strings.Contains(err.Error(), badKey[:10]) {
		t.Errorf("-k: %v", err)
	}
	if _, err := azureSAS(t, append(args, badKey)...); err == nil || strings.Contains(err.Error(), badKey[:10]) {
		t.Errorf("positional key: %v", err)
	}
	// A key pasted into another flag is not quoted back either.
	for _, flag := range []string{"--container", "--expiry", "--https-only=", "--token-only="} {
		a := append(append([]string{}, args...), flag, badKey)
		if strings.HasSuffix(flag, "=") {
			a = append(append([]string{}, args...), flag+badKey)
		}
		if _, err := azureSAS(t, a...); err == nil || strings.Contains(err.Error(), badKey[:10]) {
			t.Errorf("key in %s: %v", flag, err)
		}
	}
	if _, err := azureSAS(t, "sig"); err == nil {
		t.Error("an unknown subcommand is not an error")
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
		{"endpoint with a query", "", "mystorage", sas.DevAccountKey, "https://mystorage.blob.core.windows.net/?sig=" + badKey, []string{"AZURE_STORAGE_BLOB_ENDPOINT must not carry a query"}},
	} {
		commandEnv(t, c.connStr, c.account, c.key, c.endpoint)
		_, err := azureSAS(t, args...)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", c.name, msg, w)
			}
		}
		for _, secret := range []string{badKey, badKey[:12], badKey[len(badKey)-16:], sas.DevAccountKey[:12], "koLniLcK0t"} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: error quotes a secret: %q", c.name, msg)
			}
		}
	}

	// The key without an account, when the endpoint names it (Azurite).
	commandEnv(t, "", "", sas.DevAccountKey, sas.DevBlobEndpoint)
	if got := mustSign(t, args[1:]...); !strings.HasPrefix(got, sas.DevBlobEndpoint+"/media?") {
		t.Errorf("account from the endpoint: %q", sas.RedactQuery(got))
	}
	// The default endpoint of an account.
	commandEnv(t, "", "mystorage", sas.DevAccountKey, "")
	if got := mustSign(t, args[1:]...); !strings.HasPrefix(got, "https://mystorage.blob.core.windows.net/media?") {
		t.Errorf("default endpoint: %q", sas.RedactQuery(got))
	}
}

// TestAzureSASCommandInspect: inspect prints every field and never the
// signature, and fails on a malformed token without quoting it.
func TestAzureSASCommandInspect(t *testing.T) {
	commandEnv(t, "UseDevelopmentStorage=true", "", "", "")
	signed := mustSign(t, "--container", "media", "--blob", "up/x y.bin", "--permissions", "rcw", "--expiry", "10m",
		"--start", "-15m", "--ip", "1.2.3.4", "--https-only", "--content-type", "video/mp4", "--policy", "uploads")
	sig, rawSig := sigOf(t, signed)
	_, token, _ := strings.Cut(signed, "?")

	for _, arg := range []string{signed, token, "?" + token, signed + "&restype=container&comp=list"} {
		out, err := azureSAS(t, "inspect", arg)
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		for _, leak := range []string{sig, rawSig, "sig=" + rawSig, "sig=" + sig, url.QueryEscape(sig), sig[:16]} {
			if strings.Contains(out, leak) {
				t.Fatalf("inspect printed the signature:\n%s", sas.RedactQuery(out))
			}
		}
		want := []string{
			"kind            service SAS", "version         " + sas.DefaultVersion, "resource        b: one blob",
			"permissions     rcw", "r  read:", "c  create:", "w  write:", "access          can change data",
			"ago)", "(expires in ", "ip              1.2.3.4", "protocol        https only",
			"policy          uploads", "Content-Type: video/mp4 (rsct)", "signature       REDACTED", "sig=REDACTED",
		}
		if strings.HasPrefix(arg, "http") {
			want = append(want, "url             "+sas.DevBlobEndpoint+"/media/up/x%20y.bin", "account         devstoreaccount1",
				"container       media", "blob            up/x y.bin")
		}
		if strings.HasSuffix(arg, "comp=list") {
			want = append(want, "request params  restype, comp")
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("inspect output lacks %q:\n%s", w, out)
			}
		}
		if arg == signed {
			t.Logf("inspect output:\n%s", out)
		}
	}

	expired := "sv=2019-02-02&st=2019-04-29T22%3A18%3A26Z&se=2019-04-30T02%3A23%3A26Z&sr=b&sp=rw&sip=168.1.5.60-168.1.5.70&spr=https&sig=koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"
	if out, err := azureSAS(t, "inspect", expired); err != nil || !strings.Contains(out, "(EXPIRED ") ||
		strings.Contains(out, "koLniLcK0t") {
		t.Errorf("expired token: %v\n%s", err, out)
	}
	account := "sv=2022-11-02&ss=bf&srt=sco&sp=rl&se=2099-01-01T00%3A00%3A00Z&sig=koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D"
	out, err := azureSAS(t, "inspect", account)
	for _, w := range []string{"account SAS", "services        bf", "b  blob", "resource types  sco", "o  object", "access          read-only"} {
		if err != nil || !strings.Contains(out, w) {
			t.Errorf("account SAS: %v, output lacks %q:\n%s", err, w, out)
		}
	}

	for _, c := range []struct{ name, arg, want string }{
		{"no sr", strings.Replace(token, "sr=b&", "", 1), "malformed SAS token: SAS token has no signed resource (sr)"},
		{"bad sig", strings.Replace(token, rawSig, rawSig[:20], 1), "malformed SAS token: SAS token signature (sig) is not"},
		{"no sig", strings.Replace(token, "&sig="+rawSig, "", 1), "malformed SAS token: SAS token has no signature"},
		{"not a token", "hello", "malformed SAS token"},
		{"URL without a token", sas.DevBlobEndpoint + "/media/a.txt", "carries no SAS token"},
		{"URL with a fragment", strings.Replace(signed, "%2F", "#", 1), "has a '#'"},
		{"unescaped plus", strings.Replace(rawSigToken(token, rawSig), "%2B", "+", 1), "malformed SAS token: SAS token signature (sig) is not"},
	} {
		out, err := azureSAS(t, "inspect", c.arg)
		if err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("%s: error %v, output %q; want an error containing %q and no output", c.name, err, out, c.want)
			continue
		}
		for _, leak := range []string{sig[:12], rawSig[:12], rawSig[len(rawSig)-12:]} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: the error quotes the signature", c.name)
			}
		}
	}
	if _, err := azureSAS(t, "inspect"); err == nil || !strings.Contains(err.Error(), "one argument") {
		t.Errorf("inspect with no argument: %v", err)
	}
}

// rawSigToken returns token with a signature that holds a '+', as a token
// pasted unescaped would: the case Azure answers 403 to.
func rawSigToken(token, rawSig string) string {
	return strings.Replace(token, rawSig, "koLniLcK0tMLuMfYeuSQwB%2BBLnWibhPqnrINxaIRbvU%3D", 1)
}
