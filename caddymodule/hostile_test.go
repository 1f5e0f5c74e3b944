package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// recordingAzure stands in for Azure: it keeps every request it gets and
// serves one blob, public/cat.jpg of container photos, 404 for the rest.
type recordingAzure struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newRecordingAzure(t *testing.T) *recordingAzure {
	rec := new(recordingAzure)
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.got = append(rec.got, r.Clone(r.Context()))
		rec.mu.Unlock()
		if r.URL.Path != "/devstoreaccount1/photos/public/cat.jpg" {
			w.Header().Set("x-ms-error-code", "BlobNotFound")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprint(w, "CAT")
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recordingAzure) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.got...)
}

// rawRequest writes request to Caddy byte for byte, so that what a Go
// client would refuse to send (raw CR, NUL, absolute-form targets, huge
// headers) reaches the server, and returns the status and body.
func rawRequest(t *testing.T, request string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("writing %.60q: %v", request, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", request, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	suiteSawResponse(resp, body)
	return resp.StatusCode, string(body)
}

// TestHostileRequestsStayInTheContainer sends requests meant to escape the
// container and prefix, to change the operation or to smuggle a token, and
// checks both what the client gets and that the stand-in for Azure only
// ever saw signed reads of blobs under photos/public/.
func TestHostileRequestsStayInTheContainer(t *testing.T) {
	azure := newRecordingAzure(t)
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://:9080 {
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
		return "GET " + target + " HTTP/1.1\r\nHost: localhost:9080\r\n" + strings.Join(header, "") + "Connection: close\r\n\r\n"
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
	for _, tc := range cases {
		status, body := rawRequest(t, tc.request)
		if status != tc.status {
			t.Errorf("%s: %d %.60q, want %d", tc.name, status, body, tc.status)
		}
		if status == 200 && body != "CAT" {
			t.Errorf("%s: body %q", tc.name, body)
		}
	}

	seen := azure.requests()
	if len(seen) == 0 {
		t.Fatal("the stand-in for Azure saw nothing")
	}
	for _, up := range seen {
		checkUpstreamRequest(t, up, azure.Listener.Addr().String())
	}
	figure(t, "%d hostile requests sent byte for byte; the stand-in for Azure got %d, each a signed read under photos/public/", len(cases), len(seen))
}

// checkUpstreamRequest is the promise to Azure: a signed read-only GET or
// HEAD of one blob under photos/public/, with nothing the client chose but
// the allowed headers.
func checkUpstreamRequest(t *testing.T, up *http.Request, host string) {
	t.Helper()
	name, ok := strings.CutPrefix(up.URL.Path, "/devstoreaccount1/photos/public/")
	switch {
	case up.Method != http.MethodGet && up.Method != http.MethodHead:
		t.Errorf("Azure got a %s", up.Method)
	case !ok || name == "":
		t.Errorf("Azure got a request outside photos/public/: %q", up.URL.EscapedPath())
	case up.Host != host:
		t.Errorf("Azure got Host %q", up.Host)
	case up.ContentLength > 0 || len(up.TransferEncoding) > 0:
		t.Errorf("Azure got a body with %q", up.URL.EscapedPath())
	}
	if back, err := url.PathUnescape(up.URL.EscapedPath()); err != nil || back != up.URL.Path {
		t.Errorf("upstream path %q does not decode back to %q", up.URL.EscapedPath(), up.URL.Path)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." || strings.ContainsAny(seg, "\x00\r\n\\") {
			t.Errorf("Azure got the segment %q in %q", seg, name)
		}
	}
	q := up.URL.Query()
	for key := range q {
		switch key {
		case "sv", "se", "sr", "sp", "sig", "spr":
		default:
			t.Errorf("Azure got query parameter %q for %q", key, name)
		}
	}
	if len(q["sig"]) != 1 || len(q["sp"]) != 1 || q.Get("sp") != "r" || q.Get("sig") == "forged" {
		t.Errorf("Azure got sp %q and %d sig for %q: want our read token only", q["sp"], len(q["sig"]), name)
	}
	for header := range up.Header {
		switch header {
		case "Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "X-Ms-Version",
			"Accept-Encoding", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via":
		default:
			t.Errorf("Azure got header %s for %q", header, name)
		}
	}
	if got := up.Header.Get("X-Forwarded-Host"); got != "" && got != "localhost:9080" && got != "x" {
		t.Errorf("Azure got X-Forwarded-Host %q", got)
	}
}
