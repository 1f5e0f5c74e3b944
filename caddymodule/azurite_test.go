package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddy-azure-sas/caddy-azure-sas/caddymodule"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
)

// The caddytest server listens on fixed ports (admin 2999, http 9080), so
// every test that starts one lives in this package and none runs in
// parallel.

const caddyGlobals = `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
}
`

// TestTransportThroughCaddyAgainstAzurite runs Caddy's own reverse_proxy
// with the azure_blob transport in front of a private Azurite container.
func TestTransportThroughCaddyAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	cat := bytes.Repeat([]byte("JPEGDATA"), 1000)
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	odd := "2024/a b+c#d?e;f=g&h%20é.txt"
	az.Upload(t, "photos", odd, []byte("odd name"), "text/plain")
	t.Setenv("AZ_TEST_KEY", az.Key)

	tester := caddytest.NewTester(t)
	tester.InitServer(caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	reverse_proxy 127.0.0.1:%d {
		transport azure_blob {
			endpoint    %s
			container   photos
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, az.Port, az.Endpoint), "caddyfile")

	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://localhost:9080"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := get("/photos/cat.jpg?comp=list&restype=container")
	if resp.StatusCode != 200 || !bytes.Equal(body, cat) {
		t.Fatalf("GET cat.jpg: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Content-Length") != fmt.Sprint(len(cat)) ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	for name := range resp.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-ms-") || strings.Contains(resp.Header.Get("Server"), "Azurite") {
			t.Errorf("response header %s: %s reached the client", name, resp.Header.Get(name))
		}
	}

	if resp, body := get("/photos/2024/a%20b+c%23d%3Fe;f=g&h%2520%C3%A9.txt"); resp.StatusCode != 200 || string(body) != "odd name" {
		t.Errorf("GET %q: %d %q", odd, resp.StatusCode, body)
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=8-15"); resp.StatusCode != 206 || string(body) != "JPEGDATA" {
		t.Errorf("Range: %d %q", resp.StatusCode, body)
	}
	// Azure lacks suffix ranges; players and zip readers send them.
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-8"); resp.StatusCode != 206 || string(body) != "JPEGDATA" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", len(cat)-8, len(cat)-1, len(cat)) {
		t.Errorf("suffix range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-999999"); resp.StatusCode != 206 || !bytes.Equal(body, cat) {
		t.Errorf("suffix range over the size: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get("/photos/cat.jpg", "Range", "bytes=-0"); resp.StatusCode != 416 {
		t.Errorf("bytes=-0: %d, want 416", resp.StatusCode)
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=0-3,8-11"); resp.StatusCode != 200 || !bytes.Equal(body, cat) {
		t.Errorf("multi-range: %d, %d bytes; want the whole blob", resp.StatusCode, len(body))
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := get("/photos/cat.jpg", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp, _ := get("/photos/cat.jpg", "If-Match", `"0x0"`); resp.StatusCode != 412 {
		t.Errorf("If-Match mismatch: %d, want 412", resp.StatusCode)
	}
	if resp, _ := get("/photos/cat.jpg", "Range", "bytes=999999-"); resp.StatusCode != 416 {
		t.Errorf("unsatisfiable range: %d, want 416", resp.StatusCode)
	}
	if resp, _ := get("/photos/missing.jpg"); resp.StatusCode != 404 {
		t.Errorf("missing blob: %d, want 404", resp.StatusCode)
	}
	if resp, body := get("/photos/?restype=container&comp=list"); resp.StatusCode == 200 || bytes.Contains(body, []byte("EnumerationResults")) {
		t.Errorf("a container listing was served: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/other/cat.jpg"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("another container: %d, want 502 (refused by the transport)", resp.StatusCode)
	}

	cfg, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Body.Close()
	config, _ := io.ReadAll(cfg.Body)
	if bytes.Contains(config, []byte(az.Key[:20])) || !bytes.Contains(config, []byte("{env.AZ_TEST_KEY}")) {
		t.Errorf("admin config shows the key, or lost its placeholder: %s", config)
	}
}

// TestDirectiveAgainstAzurite serves two private containers on one site
// with the azure_blob directive: one signed with the account key under
// handle_path, one with a sas_token behind a path matcher, and an error page.
func TestDirectiveAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	az.CreateContainer(t, "media", false)
	cat := bytes.Repeat([]byte("JPEGDATA"), 1000)
	az.Upload(t, "photos", "cat.jpg", cat, "image/jpeg")
	az.Upload(t, "media", "public/files/clip.webm", []byte("WEBM"), "video/webm")
	t.Setenv("AZ_TEST_KEY", az.Key)
	t.Setenv("AZ_MEDIA_TOKEN", mediaToken(t, az.Key))

	tester := caddytest.NewTester(t)
	tester.InitServer(caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	handle_path /images/* {
		azure_blob {
			endpoint %[1]s
			container photos
			account_key {env.AZ_TEST_KEY}
		}
	}
	azure_blob /files/* {
		endpoint %[1]s
		container media
		prefix public/
		sas_token {env.AZ_MEDIA_TOKEN}
	}
	handle_errors {
		respond "error page {err.status_code}"
	}
}`, az.Endpoint), "caddyfile")

	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://localhost:9080"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	if resp, body := do("GET", "/images/cat.jpg?comp=list"); resp.StatusCode != 200 || body != string(cat) {
		t.Errorf("GET /images/cat.jpg: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := do("HEAD", "/images/cat.jpg"); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(cat)) {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	if resp, body := do("GET", "/files/clip.webm"); resp.StatusCode != 200 || body != "WEBM" || resp.Header.Get("Content-Type") != "video/webm" {
		t.Errorf("GET /files/clip.webm (sas_token origin): %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	// handle_path cleans the path before it strips the prefix (Caddy's
	// rewrite), so a dot segment resolves inside the route, never above it.
	if resp, body := do("GET", "/images/x/%2e%2e/cat.jpg"); resp.StatusCode != 200 || body != string(cat) {
		t.Errorf("GET /images/x/../cat.jpg: %d, %d bytes; want cat.jpg", resp.StatusCode, len(body))
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/images/missing.jpg", 404},
		{"GET", "/files/missing.webm", 404},
		{"GET", "/images/", 404},
		{"GET", "/files/x/%2e%2e/clip.webm", 400}, // the matcher form keeps the raw "..": the mapper refuses it
		{"GET", "/images/a%00b", 400},
		{"GET", "/images/a%5Cb", 400},
		{"POST", "/images/cat.jpg", 405},
		{"DELETE", "/files/clip.webm", 405},
	} {
		resp, body := do(tc.method, tc.path)
		if resp.StatusCode != tc.status || body != fmt.Sprintf("error page %d", tc.status) {
			t.Errorf("%s %s: %d %q, want %d from the error page", tc.method, tc.path, resp.StatusCode, body, tc.status)
		}
		if strings.Contains(body, "<?xml") || strings.Contains(body, "BlobNotFound") {
			t.Errorf("%s %s: Azure's error body reached the client", tc.method, tc.path)
		}
		if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, resp.Header.Get("Allow"))
		}
	}
}

// mediaToken is a container read SAS for the media container, as a user
// would paste it.
func mediaToken(t *testing.T, key string) string {
	t.Helper()
	k, err := sas.NewSharedKey(sas.DevAccountName, key)
	if err != nil {
		t.Fatal(err)
	}
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "media", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}
