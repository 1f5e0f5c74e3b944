package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

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
http://localhost:{$TEST_PORT} {
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

// TestDirectiveSendsOnlyWhatAzureNeeds puts a recording stand-in for Azure
// behind the directive: the client's query, credentials and x-ms-* headers
// must not reach it, and the path must be the mapped blob.
func TestDirectiveSendsOnlyWhatAzureNeeds(t *testing.T) {
	azure := newAzureStub(t)
	azure.Put("photos", "public/a b#c.jpg", []byte("bytes"), http.Header{"Content-Type": {"image/jpeg"}})
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	handle_path /images/* {
		azure_blob {
			endpoint %s/devstoreaccount1
			container photos
			prefix public/
			account_key {env.AZ_TEST_KEY}
		}
	}
}`, azure.URL))

	req, err := http.NewRequest("GET", testSite+"/images/a%20b%23c.jpg?comp=list&restype=container&sig=x&snapshot=1", nil)
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
	got := azure.Requests()
	require.Len(t, got, 1, "upstream requests")
	up := got[0]
	assert.Equal(t, "/devstoreaccount1/photos/public/a%20b%23c.jpg", up.EscapedPath, "upstream path")
	q := up.Query
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

// TestDirectiveMapsAzureStatuses checks what clients get for each status
// Azure can answer, with a stand-in that answers by blob name.
func TestDirectiveMapsAzureStatuses(t *testing.T) {
	azure := newAzureStub(t)
	azure.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		var status int
		if _, err := fmt.Sscanf(path.Base(r.URL.Path), "%d", &status); !assert.NoError(t, err, "the stand-in for Azure got %q", r.URL.Path) {
			w.WriteHeader(http.StatusTeapot)
			return true
		}
		code := "SomeAzureCode"
		switch status {
		case 503:
			w.Header().Set("Retry-After", "30")
			code = "ServerBusy"
		case 416:
			w.Header().Set("Content-Range", "bytes */100")
		}
		azurestub.WriteError(w, status, code)
		return true
	})
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
	}
	handle_errors {
		respond "error page {err.status_code}"
	}
}`, azure.URL))

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
