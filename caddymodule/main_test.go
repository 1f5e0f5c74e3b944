package caddymodule_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Every Caddy this package starts logs at debug level to suiteLog, and
// every answer a test client or the admin API gives passes through
// suiteSaw. TestMain then looks through all of it for the keys, the tokens
// the stand-ins for Azure were sent, and anything shaped like a signature.
var (
	suiteLog     = filepath.Join(os.TempDir(), fmt.Sprintf("caddy-azure-sas-test-%d.log", os.Getpid()))
	suiteSecrets = &secretWatch{known: map[string]string{sas.DevAccountKey: "Azurite's account key"}}
	caddyStarted atomic.Bool
)

// TestMain runs the package's tests, then looks through the debug log of
// every Caddy they started, and reports what every client and admin answer
// showed.
func TestMain(m *testing.M) {
	_ = os.Remove(suiteLog)
	code := m.Run()
	logs, err := os.ReadFile(suiteLog)
	switch {
	case err != nil && caddyStarted.Load():
		fmt.Fprintf(os.Stderr, "no Caddy debug log to search for secrets: %v\n", err)
		code = 1
	case err == nil:
		lines := bytes.Split(logs, []byte("\n"))
		for n, line := range lines {
			for _, leak := range findSecrets(line) {
				suiteSecrets.leaks = append(suiteSecrets.leaks, fmt.Sprintf("Caddy's log line %d shows %s", n+1, leak))
			}
		}
		summary := fmt.Sprintf("secrets: searched %d lines (%d bytes) of Caddy's debug log, %d answers to clients and the admin API, for %d known secrets and anything shaped like a signature or key: %d leaks",
			len(lines), len(logs), suiteSecrets.answers, len(suiteSecrets.known), len(suiteSecrets.leaks))
		fmt.Println(summary)
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

// secretWatch holds the secrets a test run knows of and the leaks found.
type secretWatch struct {
	mu      sync.Mutex
	known   map[string]string // secret -> what it is
	leaks   []string
	answers int // answers searched
}

// addSecret makes value one of the strings nothing may show.
func addSecret(what, value string) {
	if len(value) < 16 {
		return // too short to look for
	}
	suiteSecrets.mu.Lock()
	defer suiteSecrets.mu.Unlock()
	suiteSecrets.known[value] = what
}

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
// its value), a sig parameter with a signature's length, or a run of base64
// shaped like an HMAC-SHA256 signature (43 characters and '=') or a key.
func findSecrets(data []byte) []string {
	var found []string
	suiteSecrets.mu.Lock()
	for secret, what := range suiteSecrets.known {
		// Any 16 characters of it at a multiple of 8: a part of a secret 23
		// characters long or more is a leak too.
		for i := 0; i+16 <= len(secret); i += 8 {
			if bytes.Contains(data, []byte(secret[i:i+16])) {
				found = append(found, what)
				break
			}
		}
	}
	suiteSecrets.mu.Unlock()
	// The value as it is, and unescaped once and twice: a URL in a log or
	// an error may carry a token escaped, even escaped again.
	for level := 0; level < 3; level++ {
		found = append(found, sigParams(data)...)
		found = append(found, base64Shapes(data)...)
		if bytes.IndexByte(data, '%') < 0 {
			break
		}
		data = unescapeLeniently(data)
	}
	return found
}

// sigParams names sig parameters with a value as long as a signature's.
// Clients' own short ones (?sig=forged) are left alone.
func sigParams(data []byte) []string {
	var found []string
	for _, param := range []string{"sig=", `"sig":"`} {
		for rest := data; ; {
			i := bytes.Index(rest, []byte(param))
			if i < 0 {
				break
			}
			rest = rest[i+len(param):]
			if n := base64Run(rest, true); n >= 40 {
				found = append(found, fmt.Sprintf("a %s parameter with a %d-character value", param, n))
			}
		}
	}
	return found
}

// unescapeLeniently decodes the valid %XX escapes of data and keeps the
// rest as it is (a log holds names like "%zz" that url.PathUnescape
// refuses).
func unescapeLeniently(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] == '%' && i+2 < len(data) && isHex(data[i+1]) && isHex(data[i+2]) {
			out = append(out, unhex(data[i+1])<<4|unhex(data[i+2]))
			i += 2
			continue
		}
		out = append(out, data[i])
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// base64Shapes names the runs of base64 in data shaped like an HMAC-SHA256
// signature (43 characters and '=') or an account key (86 or more and
// "==").
func base64Shapes(data []byte) []string {
	var found []string
	for i := 0; i < len(data); {
		n := base64Run(data[i:], false)
		if n == 0 {
			i++
			continue
		}
		pad := 0
		for i+n+pad < len(data) && data[i+n+pad] == '=' {
			pad++
		}
		switch {
		case n == 43 && pad == 1:
			found = append(found, "a 44-character base64 value, shaped like a signature")
		case n >= 86 && pad == 2:
			found = append(found, "a long base64 value, shaped like an account key")
		}
		i += n + pad
	}
	return found
}

// base64Run is the length of the run of base64 characters data starts
// with; escaped also counts percent-escapes.
func base64Run(data []byte, escaped bool) int {
	n := 0
	for n < len(data) {
		c := data[n]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			n++
		case escaped && (c == '%' || c == '='):
			n++
		default:
			return n
		}
	}
	return n
}

// TestFindSecrets shows the search finds tokens and keys in the forms they
// would leak in, and leaves alone what clients send and Azure's headers.
func TestFindSecrets(t *testing.T) {
	key, err := sas.NewSharedKey(sas.DevAccountName, testKey(9))
	require.NoError(t, err)
	q, err := (&sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: sas.PermRead, Container: "photos", Blob: "b",
		Expiry: time.Now().Add(time.Hour)}).Sign(key)
	require.NoError(t, err)
	token := q.Encode()
	sig, err := url.ParseQuery(token)
	require.NoError(t, err)
	require.NotEmpty(t, sig.Get("sig"), "the token has no sig")
	for _, leak := range []string{
		`{"msg":"x","uri":"/c/b?` + token + `"}`,
		`{"query":"` + url.QueryEscape(token) + `"}`,
		`{"sig":"` + sig.Get("sig") + `"}`,
		`signature ` + sig.Get("sig"),
		`{"key":"` + testKey(9) + `"}`,
		`{"url":"/x?a=1&s=` + url.QueryEscape(sig.Get("sig")) + `"}`,
		`{"url":"/x?` + url.QueryEscape(url.QueryEscape(token)) + `"}`,
		`{"msg":"key starts ` + sas.DevAccountKey[5:30] + `"}`,
	} {
		assert.NotEmpty(t, findSecrets([]byte(leak)), "no secret found in %.50q…", leak)
	}
	for _, clean := range []string{
		`{"uri":"/cat.jpg?sig=forged&sp=racwd","Content-Md5":["Q2hlY2sgSW50ZWdyaXR5IQ=="]}`,
		`{"x-ms-request-id":"1b0a6c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","etag":"\"0x8DC9A1B2C3D4E5F\""}`,
	} {
		assert.Empty(t, findSecrets([]byte(clean)), "%q", clean)
	}
}

// figure logs a measured figure and appends it to TEST_FIGURES (see
// package figures).
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	figures.Report(t, format, args...)
}
