package caddymodule_test

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/leaks"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Every Caddy this package starts logs at debug level to suiteLog, and
// every answer a test client or the admin API gives passes through
// suiteSaw. TestMain then looks through all of it (package leaks) for the
// keys, the signatures the stand-ins for Azure and Azurite were sent, and
// anything shaped like a signature, as it is and as it decodes.
var (
	suiteLog     = filepath.Join(os.TempDir(), fmt.Sprintf("caddy-azure-sas-test-%d.log", os.Getpid()))
	suiteSecrets = newSecretWatch()
	caddyStarted atomic.Bool
)

// The whole suite's debug log holds at least this many lines, this many
// of them reverse_proxy's debug line for each request it sends upstream
// (about 110,000 and 30,000 in a run): fewer means the debug log broke,
// and a search of it would prove nothing.
const (
	suiteLogFloor       = 60_000
	suiteUpstreamFloor  = 10_000
	upstreamDebugMarker = `"msg":"upstream roundtrip"`
)

func newSecretWatch() *secretWatch {
	w := &secretWatch{search: leaks.New()}
	w.search.Add("Azurite's account key", sas.DevAccountKey)
	return w
}

// TestMain runs the package's tests, then looks through the debug log of
// every Caddy they started, and reports what every client and admin answer
// showed.
func TestMain(m *testing.M) {
	_ = os.Remove(suiteLog)
	caddytest.Default.AdminPort = adminPort
	if err := os.Setenv(testPortEnv, testPort); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	azurite.WatchSignatures(func(sig string) { addSecret("a signature Azurite was sent", sig) })
	code := m.Run()
	logs, err := os.ReadFile(suiteLog)
	switch {
	case err != nil && caddyStarted.Load():
		fmt.Fprintf(os.Stderr, "no Caddy debug log to search for secrets: %v\n", err)
		code = 1
	case err == nil:
		lines := bytes.Split(logs, []byte("\n"))
		upstream := 0
		for n, line := range lines {
			if bytes.Contains(line, []byte(upstreamDebugMarker)) {
				upstream++
			}
			for _, leak := range findSecrets(line) {
				suiteSecrets.leaks = append(suiteSecrets.leaks, fmt.Sprintf("Caddy's log line %d shows %s", n+1, leak))
			}
		}
		summary := fmt.Sprintf("secrets: searched %d lines (%d bytes, %d of them requests sent upstream) of Caddy's debug log, %d answers to clients and the admin API, as they are and as they decode, for %d known secrets and anything shaped like a signature or key: %d leaks",
			len(lines), len(logs), upstream, suiteSecrets.answers, suiteSecrets.search.Known(), len(suiteSecrets.leaks))
		fmt.Println(summary)
		if wholeSuite() && (len(lines) < suiteLogFloor || upstream < suiteUpstreamFloor) {
			fmt.Fprintf(os.Stderr, "the debug log is too thin to prove anything: %d lines (at least %d), %d requests sent upstream (at least %d)\n",
				len(lines), suiteLogFloor, upstream, suiteUpstreamFloor)
			code = 1
		}
		if err := figures.Append(summary); err != nil {
			fmt.Fprintf(os.Stderr, "TEST_FIGURES: %v\n", err)
			code = 1
		}
	}
	if len(suiteSecrets.leaks) > 0 {
		fmt.Fprintf(os.Stderr, "secrets leaked (log kept at %s):\n  %s\n", suiteLog, strings.Join(suiteSecrets.leaks, "\n  "))
		code = 1
	} else {
		_ = os.Remove(suiteLog)
	}
	os.Exit(code)
}

// wholeSuite reports whether every test of the package ran: no -run, no
// -skip, no -short.
func wholeSuite() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// secretWatch holds the secrets a test run knows of and the leaks found.
type secretWatch struct {
	search  *leaks.Search
	mu      sync.Mutex
	leaks   []string
	answers int // answers searched
}

// addSecret makes value one of the strings nothing may show: a key, a
// signature, or a token (its signature).
func addSecret(what, value string) { suiteSecrets.search.Add(what, value) }

// suiteSaw checks what a client or the admin API was shown.
func suiteSaw(where string, data []byte) {
	leaks := findSecrets(data)
	suiteSecrets.mu.Lock()
	defer suiteSecrets.mu.Unlock()
	suiteSecrets.answers++
	for _, leak := range leaks {
		suiteSecrets.leaks = append(suiteSecrets.leaks, where+" shows "+leak)
	}
}

// suiteSawResponse checks a response's status line, headers and body.
func suiteSawResponse(resp *http.Response, body []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", resp.Status)
	_ = resp.Header.Write(&b)
	b.Write(body)
	where := "a response"
	if resp.Request != nil {
		where = "the response to " + resp.Request.Method + " " + resp.Request.URL.Path
	}
	suiteSaw(where, b.Bytes())
}

// newAzureStub starts a stand-in for Azure (internal/azurestub) for a test
// that runs Caddy in front of it: every signature it is sent joins the
// secrets TestMain looks for in what Caddy logged and showed.
func newAzureStub(t *testing.T) *azurestub.Server {
	t.Helper()
	azure := azurestub.New(t)
	azure.Hook(func(_ http.ResponseWriter, r *http.Request) bool {
		addSecret("a signature the stand-in for Azure was sent", r.URL.Query().Get("sig"))
		return false
	})
	return azure
}

// findSecrets names what data shows: a known secret (by what it is, never
// its value), a sig parameter with a signature's length, or base64 shaped
// like a signature or a key, as it is and as it decodes.
func findSecrets(data []byte) []string { return suiteSecrets.search.Find(data) }

// figure logs a measured figure and appends it to TEST_FIGURES (see
// package figures).
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	figures.Report(t, format, args...)
}
