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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, err, "%s %s", method, path)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := tester.Client.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "%s %s: reading the body", method, path)
	suiteSawResponse(resp, body)
	return resp, body
}

// adminGet reads path of the test server's admin API, which must answer
// 200, and passes the answer through the suite's secret search.
func adminGet(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://localhost:2999" + path)
	require.NoError(t, err, "admin GET %s", path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "admin GET %s: reading the body", path)
	require.Equal(t, http.StatusOK, resp.StatusCode, "admin GET %s: %s", path, body)
	suiteSaw("admin GET "+path, body)
	return body
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
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET cat.jpg")
	require.Len(t, body, len(cat), "GET cat.jpg")
	require.True(t, bytes.Equal(body, cat), "GET cat.jpg: not the blob's bytes")
	assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"), "headers %v", resp.Header)
	assert.Equal(t, fmt.Sprint(len(cat)), resp.Header.Get("Content-Length"), "headers %v", resp.Header)
	assert.NotEmpty(t, resp.Header.Get("ETag"), "headers %v", resp.Header)
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"), "headers %v", resp.Header)
	for name := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "x-ms-"), "response header %s: %s reached the client", name, resp.Header.Get(name))
	}
	assert.NotContains(t, resp.Header.Get("Server"), "Azurite", "Azurite's Server header reached the client")

	if resp, body := get("/photos/2024/a%20b+c%23d%3Fe;f=g&h%2520%C3%A9.txt"); assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %q", odd) {
		assert.Equal(t, "odd name", string(body), "GET %q", odd)
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=8-15"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "Range") {
		assert.Equal(t, "JPEGDATA", string(body), "Range")
	}
	// Azure lacks suffix ranges; players and zip readers send them.
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-8"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "suffix range") {
		assert.Equal(t, "JPEGDATA", string(body), "suffix range")
		assert.Equal(t, fmt.Sprintf("bytes %d-%d/%d", len(cat)-8, len(cat)-1, len(cat)), resp.Header.Get("Content-Range"), "suffix range")
	}
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=-999999"); assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "suffix range over the size") {
		assert.Len(t, body, len(cat), "suffix range over the size")
		assert.True(t, bytes.Equal(body, cat), "suffix range over the size: not the blob's bytes")
	}
	resp0, _ := get("/photos/cat.jpg", "Range", "bytes=-0")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp0.StatusCode, "bytes=-0")
	if resp, body := get("/photos/cat.jpg", "Range", "bytes=0-3,8-11"); assert.Equal(t, http.StatusOK, resp.StatusCode, "multi-range: want the whole blob") {
		assert.Len(t, body, len(cat), "multi-range: want the whole blob")
		assert.True(t, bytes.Equal(body, cat), "multi-range: want the whole blob")
	}
	etag := resp.Header.Get("ETag")
	resp304, _ := get("/photos/cat.jpg", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, resp304.StatusCode, "If-None-Match")
	// 412 and 416 keep Azure's status, never its XML error document.
	resp412, body412 := get("/photos/cat.jpg", "If-Match", `"0x0"`)
	assert.Equal(t, http.StatusPreconditionFailed, resp412.StatusCode, "If-Match mismatch")
	assert.Empty(t, body412, "If-Match mismatch: Azure's error body reached the client")
	resp416, body416 := get("/photos/cat.jpg", "Range", "bytes=999999-")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp416.StatusCode, "unsatisfiable range")
	assert.Empty(t, body416, "unsatisfiable range: Azure's error body reached the client")
	for _, resp := range []*http.Response{resp412, resp416} {
		assert.Empty(t, resp.Header.Get("Content-Type"), "%d: the type of Azure's error document", resp.StatusCode)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "%d", resp.StatusCode)
	}
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "a blob served")
	resp404, _ := get("/photos/missing.jpg")
	assert.Equal(t, http.StatusNotFound, resp404.StatusCode, "missing blob")
	// A path that names no blob, or another container, is refused by the
	// transport itself with a 404 and its reason; no listing is asked for.
	respList, bodyList := get("/photos/?restype=container&comp=list")
	assert.Equal(t, http.StatusNotFound, respList.StatusCode, "a container listing was served")
	assert.NotContains(t, string(bodyList), "EnumerationResults", "a container listing was served")
	assert.Equal(t, "request path names no blob\n", string(bodyList), "a container listing: refused for another reason")
	respOther, bodyOther := get("/other/cat.jpg")
	assert.Equal(t, http.StatusNotFound, respOther.StatusCode, "another container: want 404 (refused by the transport)")
	assert.Equal(t, "request addresses another container than the configured one\n", string(bodyOther), "another container: refused for another reason")

	config := adminGet(t, "/config/")
	assert.NotContains(t, string(config), az.Key[:20], "admin config shows the key")
	assert.Contains(t, string(config), "{env.AZ_TEST_KEY}", "admin config lost the key's placeholder")
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

	if resp, body := do("GET", "/images/cat.jpg?comp=list"); assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /images/cat.jpg") {
		assert.Len(t, body, len(cat), "GET /images/cat.jpg")
		assert.True(t, body == string(cat), "GET /images/cat.jpg: not the blob's bytes")
	}
	if resp, body := do("HEAD", "/images/cat.jpg"); assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD") {
		assert.Empty(t, body, "HEAD")
		assert.Equal(t, int64(len(cat)), resp.ContentLength, "HEAD: length")
	}
	if resp, body := do("GET", "/files/clip.webm"); assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /files/clip.webm (sas_token origin)") {
		assert.Equal(t, "WEBM", body, "GET /files/clip.webm (sas_token origin)")
		assert.Equal(t, "video/webm", resp.Header.Get("Content-Type"), "GET /files/clip.webm (sas_token origin)")
	}
	// handle_path cleans the path before it strips the prefix (Caddy's
	// rewrite), so a dot segment resolves inside the route, never above it.
	if resp, body := do("GET", "/images/x/%2e%2e/cat.jpg"); assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /images/x/../cat.jpg: want cat.jpg") {
		assert.Len(t, body, len(cat), "GET /images/x/../cat.jpg: want cat.jpg")
		assert.True(t, body == string(cat), "GET /images/x/../cat.jpg: want cat.jpg")
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
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		assert.Equal(t, fmt.Sprintf("error page %d", tc.status), body, "%s %s: want the error page", tc.method, tc.path)
		assert.NotContains(t, body, "<?xml", "%s %s: Azure's error body reached the client", tc.method, tc.path)
		assert.NotContains(t, body, "BlobNotFound", "%s %s: Azure's error body reached the client", tc.method, tc.path)
		if tc.status == 405 {
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), "%s %s: Allow", tc.method, tc.path)
		}
	}
}

// mediaToken is a container read SAS for the media container, as a user
// would paste it.
func mediaToken(t *testing.T, key string) string {
	t.Helper()
	k, err := sas.NewSharedKey(sas.DevAccountName, key)
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "media", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(k)
	require.NoError(t, err)
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
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", tc.method, tc.path)
		fmt.Fprintf(&responses, "%d %v %s\n", resp.StatusCode, resp.Header, body)
	}
	config := adminGet(t, "/config/")
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)

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
			assert.NotContains(t, text, secret, "%s shows %s", where, what)
		}
	}
	assert.Contains(t, string(logs), `"azure_error_code":"AuthorizationFailure"`, "the refused key was not logged with Azure's error code")
	assert.GreaterOrEqual(t, bytes.Count(logs, []byte(`"msg":"azure blob request","container":"photos","blob":"cat.jpg"`)), 3,
		"upstream requests for cat.jpg logged; the refused one should have been tried twice")
	assert.Contains(t, string(logs), `"msg":"mapped request to blob"`, "no debug log of the mapping: was debug logging on?")
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

	req, err := http.NewRequest("GET", "http://localhost:9080/images/a%20b%23c.jpg?comp=list&restype=container&sig=x&snapshot=1", nil)
	require.NoError(t, err)
	for name, value := range map[string]string{
		"Authorization": "Bearer x", "Cookie": "s=1", "Proxy-Authorization": "Basic eA==",
		"X-Ms-Copy-Source": "https://evil.example/x", "X-Ms-Range": "bytes=0-1", "X-Ms-Version": "2009-09-19",
		"X-HTTP-Method-Override": "DELETE", "If-None-Match": `"0x1"`,
	} {
		req.Header.Set(name, value)
	}
	resp, err := tester.Client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err, "reading the body")
	suiteSawResponse(resp, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "status")
	assert.Equal(t, "bytes", string(body))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "upstream requests")
	up := got[0]
	assert.Equal(t, "/devstoreaccount1/photos/public/a%20b%23c.jpg", up.URL.EscapedPath(), "upstream path")
	q := up.URL.Query()
	for _, name := range []string{"comp", "restype", "snapshot"} {
		assert.False(t, q.Has(name), "the client's %s reached Azure", name)
	}
	// Exactly our read token.
	assert.Len(t, q["sig"], 1, "query %v", q)
	assert.NotEqual(t, "x", q.Get("sig"), "the client's sig reached Azure")
	assert.Equal(t, "r", q.Get("sp"), "query %v", q)
	for name := range up.Header {
		assert.Contains(t, []string{"If-None-Match", "X-Ms-Version", "Accept-Encoding", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via"},
			name, "client header %s reached Azure: %q", name, up.Header.Get(name))
	}
	assert.Equal(t, sas.DefaultVersion, up.Header.Get("X-Ms-Version"), "x-ms-version")
	assert.Equal(t, `"0x1"`, up.Header.Get("If-None-Match"), "the client's condition, which Azure needs, did not reach it")
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
		assert.Equal(t, tc.status, resp.StatusCode, "GET %s (Range %q)", tc.path, tc.rangeHeader)
		if tc.body != "" {
			assert.Equal(t, tc.body, string(body), "GET %s (Range %q)", tc.path, tc.rangeHeader)
		}
	}
}

// TestDirectiveMapsAzureStatuses checks what clients get for each status
// Azure can answer, with a stand-in that answers by blob name.
func TestDirectiveMapsAzureStatuses(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status int
		if _, err := fmt.Sscanf(path.Base(r.URL.Path), "%d", &status); !assert.NoError(t, err, "the stand-in for Azure got %q", r.URL.Path) {
			w.WriteHeader(http.StatusTeapot)
			return
		}
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
		body        string // the error page; 412 and 416 pass as they are, without Azure's error document
	}{
		{412, 412, "", ""},
		{416, 416, "", ""},
		{404, 404, "", "error page 404"},
		{503, 503, "30", "error page 503"},
		{500, 502, "", "error page 502"},
		{400, 502, "", "error page 502"},
		{403, 502, "", "error page 502"},
	} {
		resp, body := fetch(t, tester, http.MethodGet, fmt.Sprintf("/%d", tc.azure))
		assert.Equal(t, tc.want, resp.StatusCode, "Azure %d: the client's status", tc.azure)
		assert.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"), "Azure %d: Retry-After", tc.azure)
		assert.NotContains(t, string(body), "<Error>", "Azure %d: Azure's error document reached the client", tc.azure)
		assert.Equal(t, tc.body, string(body), "Azure %d: body", tc.azure)
		assert.Empty(t, resp.Header.Get("x-ms-error-code"), "Azure %d: x-ms-error-code reached the client", tc.azure)
		if tc.azure == 416 {
			assert.Equal(t, "bytes */100", resp.Header.Get("Content-Range"), "416 lost its Content-Range")
		}
	}
}
