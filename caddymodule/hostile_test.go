package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// rawRequest writes request to Caddy byte for byte, so that what a Go
// client would refuse to send (raw CR, NUL, absolute-form targets, huge
// headers) reaches the server, and returns the status and body.
func rawRequest(t *testing.T, request string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+testPort, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, request)
	require.NoError(t, err, "writing %.60q", request)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "reading the answer to %.60q", request)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "reading the body of the answer to %.60q", request)
	suiteSawResponse(resp, body)
	return resp.StatusCode, string(body)
}

// TestHostileRequestsStayInTheContainer sends requests meant to escape the
// container and prefix, to change the operation or to smuggle a token, and
// checks both what the client gets and that the stand-in for Azure only
// ever saw signed reads of blobs under photos/public/.
func TestHostileRequestsStayInTheContainer(t *testing.T) {
	azure := newAzureStub(t)
	azure.Put("photos", "public/cat.jpg", []byte("CAT"), nil)
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://:{$TEST_PORT} {
	handle_path /hp/* {
		azure_blob {
			endpoint %[1]s/devstoreaccount1
			container photos
			prefix public/
			account_key {env.AZ_TEST_KEY}
		}
	}
	handle {
		azure_blob {
			endpoint %[1]s/devstoreaccount1
			container photos
			prefix public/
			account_key {env.AZ_TEST_KEY}
			scope container
		}
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, azure.URL))

	get := func(target string, header ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: localhost:" + testPort + "\r\n" + strings.Join(header, "") + "Connection: close\r\n\r\n"
	}
	cases := []struct {
		name, request string
		status        int
	}{
		{"plain read", get("/cat.jpg"), 200},
		{"plain read, handle_path", get("/hp/cat.jpg"), 200},
		{"raw ..", get("/../secret.txt"), 400},
		{"raw .. deeper", get("/x/../../photos/secret.txt"), 400},
		{"raw .", get("/a/./cat.jpg"), 400},
		{"encoded ..", get("/%2e%2e/secret.txt"), 400},
		{"encoded ../", get("/%2E%2e%2Fsecret.txt"), 400},
		{"..%2f", get("/..%2fsecret.txt"), 400},
		{"..%2f, handle_path", get("/hp/x/..%2f..%2fsecret.txt"), 400},
		{"double-encoded .. is a literal name", get("/%252e%252e/secret.txt"), 404},
		{"encoded slashes stay in the prefix", get("/%2f%2fetc/passwd"), 404},
		{"raw backslash", get(`/a\..\secret.txt`), 400},
		{"encoded backslash", get("/%5c..%5csecret.txt"), 400},
		{"encoded NUL", get("/cat.jpg%00.png"), 400},
		{"raw NUL", get("/cat\x00.jpg"), 400},
		{"encoded CR LF", get("/cat.jpg%0d%0aX-Ms-Version:%202009-09-19"), 400},
		{"raw CR", get("/cat\r.jpg"), 400},
		{"overlong '.'", get("/%c0%ae%c0%ae/secret.txt"), 400},
		{"overlong '/'", get("/..%c0%afsecret.txt"), 400},
		{"three-byte overlong '.'", get("/%e0%80%ae%e0%80%ae/secret.txt"), 400},
		{"absolute-form target", get("http://127.0.0.1:1/devstoreaccount1/other/secret.txt"), 404},
		{"absolute-form target with ..", get("http://evil.example/../secret.txt"), 400},
		{"client query", get("/cat.jpg?sig=forged&sp=racwd&comp=list&restype=container&snapshot=x"), 200},
		{"method override header", get("/cat.jpg", "X-HTTP-Method-Override: DELETE\r\n", "X-Method-Override: PUT\r\n"), 200},
		{"Host header", get("/cat.jpg", "X-Forwarded-Host: evil.example\r\n"), 200},
		{"folder", get("/folder/"), 404},
		{"root", get("/"), 404},
		{"oversized path", get("/" + strings.Repeat("a", 5000)), 400},
		{"oversized headers", get("/cat.jpg", "X-Big: "+strings.Repeat("b", 2<<20)+"\r\n"), 431},
		{"DELETE", "DELETE /cat.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
		{"PUT with a body", "PUT /cat.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", 405},
		{"POST overriding to GET", "POST /cat.jpg HTTP/1.1\r\nHost: x\r\nX-HTTP-Method-Override: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405},
		{"OPTIONS", "OPTIONS /cat.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
		{"TRACE", "TRACE /cat.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
		{"PROPFIND", "PROPFIND /cat.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
		{"GET with a body", "GET /cat.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 200},
	}
	refusedHere := 0
	for _, tc := range cases {
		before := len(azure.Requests())
		status, body := rawRequest(t, tc.request)
		asked := len(azure.Requests()) - before
		assert.Equal(t, tc.status, status, "%s: body %.60q", tc.name, body)
		switch status {
		case http.StatusOK:
			assert.Equal(t, "CAT", body, "%s: body", tc.name)
			assert.Equal(t, 1, asked, "%s: requests the stand-in for Azure got", tc.name)
		case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestHeaderFieldsTooLarge:
			assert.Zero(t, asked, "%s: answered %d by Caddy, yet Azure was asked", tc.name, status)
			refusedHere++
		}
	}

	seen := azure.Requests()
	require.NotEmpty(t, seen, "the stand-in for Azure saw nothing")
	for _, up := range seen {
		checkUpstreamRequest(t, up, azure.Listener.Addr().String())
	}
	figure(t, "%d hostile requests sent byte for byte; %d refused by Caddy without asking Azure; the stand-in for Azure got %d, each a signed read under photos/public/",
		len(cases), refusedHere, len(seen))
}

// checkUpstreamRequest is the promise to Azure: a signed read-only GET or
// HEAD of one blob under photos/public/, with nothing the client chose but
// the allowed headers.
func checkUpstreamRequest(t *testing.T, up azurestub.Request, host string) {
	t.Helper()
	name, ok := strings.CutPrefix(up.Path, "/devstoreaccount1/photos/public/")
	assert.Contains(t, []string{http.MethodGet, http.MethodHead}, up.Method, "Azure got a %s", up.Method)
	if assert.True(t, ok, "Azure got a request outside photos/public/: %q", up.EscapedPath) {
		assert.NotEmpty(t, name, "Azure got a request for no blob: %q", up.EscapedPath)
	}
	assert.Equal(t, host, up.Host, "Azure got another Host")
	assert.Zero(t, up.ContentLength, "Azure got a body with %q", up.EscapedPath)
	assert.Empty(t, up.TransferEncoding, "Azure got a body with %q", up.EscapedPath)
	back, err := url.PathUnescape(up.EscapedPath)
	if assert.NoError(t, err, "upstream path %q does not decode", up.EscapedPath) {
		assert.Equal(t, up.Path, back, "upstream path %q does not decode back", up.EscapedPath)
	}
	for seg := range strings.SplitSeq(name, "/") {
		assert.NotContains(t, []string{".", ".."}, seg, "Azure got a dot segment in %q", name)
		assert.False(t, strings.ContainsAny(seg, "\x00\r\n\\"), "Azure got the segment %q in %q", seg, name)
	}
	q := up.Query
	for key := range q {
		assert.Contains(t, []string{"sv", "se", "sr", "sp", "sig", "spr"}, key, "Azure got query parameter %q for %q", key, name)
	}
	// Our read token only.
	assert.Len(t, q["sig"], 1, "Azure got %d sig for %q", len(q["sig"]), name)
	assert.NotEqual(t, "forged", q.Get("sig"), "Azure got the client's sig for %q", name)
	assert.Equal(t, []string{"r"}, q["sp"], "Azure got sp %q for %q", q["sp"], name)
	for header := range up.Header {
		assert.Contains(t, []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "X-Ms-Version",
			"Accept-Encoding", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via"},
			header, "Azure got header %s for %q", header, name)
	}
	assert.Contains(t, []string{"", "localhost:" + testPort, "x"}, up.Header.Get("X-Forwarded-Host"), "Azure got X-Forwarded-Host")
}
