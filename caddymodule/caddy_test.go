package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
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

// fetch sends a request through the test server, with header as name,
// value pairs, and returns the response with its body read.
func fetch(t *testing.T, tester *caddytest.Tester, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://localhost:9080"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	suiteSawResponse(resp, body)
	return resp, body
}

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

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	reverse_proxy 127.0.0.1:%d {
		transport azure_blob {
			endpoint    %s
			container   photos
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, az.Port, az.Endpoint))

	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		return fetch(t, tester, http.MethodGet, path, header...)
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

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
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
}`, az.Endpoint))

	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		resp, body := fetch(t, tester, method, path)
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
	addSecret("a sas_token", q.Encode())
	return q.Encode()
}

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
http://localhost:9080 {
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
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		fmt.Fprintf(&responses, "%d %v %s\n", resp.StatusCode, resp.Header, body)
	}
	cfg, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	config, _ := io.ReadAll(cfg.Body)
	cfg.Body.Close()
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}

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
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %s", where, what)
			}
		}
	}
	if !bytes.Contains(logs, []byte(`"azure_error_code":"AuthorizationFailure"`)) {
		t.Error("the refused key was not logged with Azure's error code")
	}
	if n := bytes.Count(logs, []byte(`"msg":"azure blob request","container":"photos","blob":"cat.jpg"`)); n < 3 {
		t.Errorf("%d upstream requests for cat.jpg logged; the refused one should have been tried twice", n)
	}
	if !bytes.Contains(logs, []byte(`"msg":"mapped request to blob"`)) {
		t.Error("no debug log of the mapping: was debug logging on?")
	}
}

// TestDirectiveSendsOnlyWhatAzureNeeds puts a recording stand-in for Azure
// behind the directive: the client's query, credentials and x-ms-* headers
// must not reach it, and the path must be the mapped blob.
func TestDirectiveSendsOnlyWhatAzureNeeds(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(r.Context()))
		mu.Unlock()
		w.Header().Set("Content-Type", "image/jpeg")
		fmt.Fprint(w, "bytes")
	}))
	defer upstream.Close()
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	handle_path /images/* {
		azure_blob {
			endpoint %s/devstoreaccount1
			container photos
			prefix public/
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, upstream.URL))

	req, _ := http.NewRequest("GET", "http://localhost:9080/images/a%20b%23c.jpg?comp=list&restype=container&sig=x&snapshot=1", nil)
	for name, value := range map[string]string{
		"Authorization": "Bearer x", "Cookie": "s=1", "Proxy-Authorization": "Basic eA==",
		"X-Ms-Copy-Source": "https://evil.example/x", "X-Ms-Range": "bytes=0-1", "X-Ms-Version": "2009-09-19",
		"X-HTTP-Method-Override": "DELETE", "If-None-Match": `"0x1"`,
	} {
		req.Header.Set(name, value)
	}
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	suiteSawResponse(resp, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d upstream requests, want 1", len(got))
	}
	up := got[0]
	if up.URL.EscapedPath() != "/devstoreaccount1/photos/public/a%20b%23c.jpg" {
		t.Errorf("upstream path %q", up.URL.EscapedPath())
	}
	q := up.URL.Query()
	for _, name := range []string{"comp", "restype", "snapshot"} {
		if q.Has(name) {
			t.Errorf("the client's %s reached Azure", name)
		}
	}
	if len(q["sig"]) != 1 || q.Get("sig") == "x" || q.Get("sp") != "r" {
		t.Errorf("query %v: want exactly our read token", q)
	}
	for name := range up.Header {
		switch name {
		case "If-None-Match", "X-Ms-Version", "Accept-Encoding", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via":
		default:
			t.Errorf("client header %s reached Azure: %q", name, up.Header.Get(name))
		}
	}
	if up.Header.Get("X-Ms-Version") != sas.DefaultVersion {
		t.Errorf("x-ms-version %q", up.Header.Get("X-Ms-Version"))
	}
}

// TestCredentialsAndOptionsAgainstAzurite covers the credentials and
// options the other tests leave out, on Azurite's default port so that
// UseDevelopmentStorage=true reaches it: a connection string from the
// environment with container scope, ttl, renew_before and version;
// UseDevelopmentStorage; anonymous on a public container.
func TestCredentialsAndOptionsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.Port(10000))
	az.CreateContainer(t, "photos", false)
	az.CreateContainer(t, "public-assets", true)
	data := []byte("0123456789abcdef")
	az.Upload(t, "photos", "digits.txt", data, "text/plain")
	az.Upload(t, "public-assets", "logo.txt", []byte("LOGO"), "text/plain")
	t.Setenv("AZ_CONNECTION_STRING", fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s", az.Account, az.Key, az.Endpoint))

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	handle_path /cs/* {
		azure_blob {
			endpoint %[1]s
			container photos
			connection_string {env.AZ_CONNECTION_STRING}
			scope container
			ttl 10m
			renew_before 2m
			version 2025-11-05
		}
	}
	handle_path /dev/* {
		azure_blob {
			container photos
			connection_string UseDevelopmentStorage=true
		}
	}
	handle_path /public/* {
		azure_blob {
			endpoint %[1]s
			container public-assets
			anonymous
		}
	}
	handle_path /not-public/* {
		azure_blob {
			endpoint %[1]s
			container photos
			anonymous
		}
	}
}`, az.Endpoint))

	for _, tc := range []struct {
		path, rangeHeader string
		status            int
		body              string
	}{
		{"/cs/digits.txt", "", 200, string(data)},
		{"/cs/digits.txt", "bytes=10-", 206, "abcdef"},
		{"/dev/digits.txt", "bytes=0-3", 206, "0123"},
		{"/public/logo.txt", "", 200, "LOGO"},
		{"/not-public/digits.txt", "", 502, ""}, // a private container refuses anonymous reads
	} {
		resp, body := fetch(t, tester, http.MethodGet, tc.path, "Range", tc.rangeHeader)
		if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("GET %s (Range %q): %d %q, want %d %q", tc.path, tc.rangeHeader, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// TestDirectiveMapsAzureStatuses checks what clients get for each status
// Azure can answer, with a stand-in that answers by blob name.
func TestDirectiveMapsAzureStatuses(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status int
		fmt.Sscanf(path.Base(r.URL.Path), "%d", &status)
		w.Header().Set("x-ms-error-code", "SomeAzureCode")
		switch status {
		case 503:
			w.Header().Set("Retry-After", "30")
			w.Header().Set("x-ms-error-code", "ServerBusy")
		case 416:
			w.Header().Set("Content-Range", "bytes */100")
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprint(w, `<?xml version="1.0"?><Error><Code>SomeAzureCode</Code></Error>`)
	}))
	defer upstream.Close()
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
	}
	handle_errors {
		respond "error page {err.status_code}"
	}
}`, upstream.URL))

	for _, tc := range []struct {
		azure, want int
		retryAfter  string
		azureBody   bool // Azure's body reaches the client (412 and 416 only)
	}{
		{412, 412, "", true},
		{416, 416, "", true},
		{404, 404, "", false},
		{503, 503, "30", false},
		{500, 502, "", false},
		{400, 502, "", false},
		{403, 502, "", false},
	} {
		resp, body := fetch(t, tester, http.MethodGet, fmt.Sprintf("/%d", tc.azure))
		if resp.StatusCode != tc.want {
			t.Errorf("Azure %d: client got %d, want %d", tc.azure, resp.StatusCode, tc.want)
		}
		if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("Azure %d: Retry-After %q, want %q", tc.azure, got, tc.retryAfter)
		}
		if xml := bytes.Contains(body, []byte("<Error>")); xml != tc.azureBody {
			t.Errorf("Azure %d: body %q; Azure's body expected: %v", tc.azure, body, tc.azureBody)
		}
		if !tc.azureBody && string(body) != fmt.Sprintf("error page %d", tc.want) {
			t.Errorf("Azure %d: body %q, want the error page", tc.azure, body)
		}
		if resp.Header.Get("x-ms-error-code") != "" {
			t.Errorf("Azure %d: x-ms-error-code reached the client", tc.azure)
		}
		if tc.azure == 416 && resp.Header.Get("Content-Range") != "bytes */100" {
			t.Errorf("416 lost its Content-Range: %q", resp.Header.Get("Content-Range"))
		}
	}
}
