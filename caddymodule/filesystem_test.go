package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
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

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/blobnames"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// appAndBrowse serve, from the filesystem the fs directive names, a
// single-page app under /app/ (every path below it loads its index.html)
// and everything else with listings.
const appAndBrowse = `handle_path /app/* {
		root app
		try_files {path} /index.html
		file_server
	}
	file_server {
		browse
	}`

// filesystemGlobals declares the filesystem site over container www of az,
// with extra options.
func filesystemGlobals(az *azurite.Server, extra string) string {
	return caddyGlobalsWith("\tgrace_period 1ns\n" + filesystemOption("site", az.Endpoint, extra))
}

// filesystemOption is the global option declaring the filesystem name
// over container www at endpoint, with extra options.
func filesystemOption(name, endpoint, extra string) string {
	return fmt.Sprintf(`	filesystem %s azure_blob {
		endpoint %s
		container www
		account_key {env.AZ_TEST_KEY}
%s	}
`, name, endpoint, extra)
}

// TestFilesystemServesAContainerAgainstAzurite: file_server over the
// azure_blob filesystem serves a private container as it serves a disk:
// files with their type, length, ETag and Last-Modified, index files,
// folders as redirects to their '/', listings in HTML and JSON, ranges,
// 304 and HEAD, 404 for what is not there, a blob and a folder of the same
// name, and a single-page app's deep links through try_files.
func TestFilesystemServesAContainerAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "www", false)
	az.CreateContainer(t, "void", false)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	blobs := map[string][]byte{
		"index.html":         []byte("<h1>home</h1>"),
		"about/index.html":   []byte("<h1>about</h1>"),
		"docs/a.txt":         []byte("alpha"),
		"docs/sub/b.txt":     []byte("bravo"),
		"a":                  []byte("the blob a"),
		"a/b":                []byte("the blob a/b"),
		"media/big.bin":      big,
		"app/index.html":     []byte("<div id=app></div>"),
		"app/assets/app.js":  []byte("console.log(1)"),
		"odd/with space.txt": []byte("space"),
	}
	for name, data := range blobs {
		az.Upload(t, "www", name, data, "")
	}
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobalsWith("\tgrace_period 1ns\n"+filesystemOption("site", az.Endpoint, "")+
		strings.Replace(filesystemOption("void", az.Endpoint, ""), "container www", "container void", 1))+`
http://localhost:{$TEST_PORT} {
	fs site
	handle_path /void/* {
		fs void
		file_server {
			browse
		}
	}
	handle_path /app/* {
		root /app # as on disk; "app" names the same folder
		try_files {path} /index.html
		file_server
	}
	file_server {
		browse
	}
}`)

	resp, body := fetch(t, tester, http.MethodGet, "/index.html")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /index.html")
	assert.Equal(t, "<h1>home</h1>", string(body))
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), "file_server's type, from the name")
	etag := resp.Header.Get("ETag")
	assert.NotEmpty(t, etag, "ETag")
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"), "Last-Modified")
	for name := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "x-ms-"), "an Azure header reached the client: %s", name)
	}

	resp, _ = fetch(t, tester, http.MethodGet, "/index.html", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode, "If-None-Match")
	resp, body = fetch(t, tester, http.MethodHead, "/docs/a.txt")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD")
	assert.Equal(t, "5", resp.Header.Get("Content-Length"), "HEAD: Content-Length")
	assert.Empty(t, body, "HEAD: a body")

	for path, want := range map[string]string{
		"/":                      "<h1>home</h1>",
		"/about/":                "<h1>about</h1>",
		"/docs/sub/b.txt":        "bravo",
		"/a":                     "the blob a",
		"/a/b":                   "the blob a/b",
		"/odd/with%20space.txt":  "space",
		"/app/":                  "<div id=app></div>",
		"/app/assets/app.js":     "console.log(1)",
		"/app/users/42/settings": "<div id=app></div>", // a deep link of the single-page app
	} {
		resp, body := fetch(t, tester, http.MethodGet, path)
		if assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path) {
			assert.Equal(t, want, string(body), "GET %s", path)
		}
	}
	resp, body = fetch(t, tester, http.MethodGet, "/about") // file_server's 308, which the client follows
	assert.Equal(t, "/about/", resp.Request.URL.Path, "a folder without its '/' is sent to it")
	assert.Equal(t, "<h1>about</h1>", string(body), "a folder without its '/'")
	for _, path := range []string{"/missing.txt", "/docs/missing/", "/docs/a.txt/more"} {
		resp, _ := fetch(t, tester, http.MethodGet, path)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s", path)
	}

	// A range of the 3 MiB blob: its own bytes, across the first window.
	resp, body = fetch(t, tester, http.MethodGet, "/media/big.bin", "Range", "bytes=1000000-2100000")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "a range")
	assert.Equal(t, fmt.Sprintf("bytes 1000000-2100000/%d", len(big)), resp.Header.Get("Content-Range"))
	assert.True(t, bytes.Equal(big[1000000:2100001], body), "the range's bytes")
	resp, body = fetch(t, tester, http.MethodGet, "/media/big.bin")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the whole blob")
	assert.True(t, bytes.Equal(big, body), "the whole blob's bytes, read in windows")

	// Listings, in HTML and in JSON.
	resp, body = fetch(t, tester, http.MethodGet, "/docs/")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the listing of /docs/")
	assert.Contains(t, string(body), `href="./a.txt"`, "the listing links the file")
	assert.Contains(t, string(body), `href="./sub/"`, "the listing links the folder")
	resp, body = fetch(t, tester, http.MethodGet, "/docs/", "Accept", "application/json")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the JSON listing of /docs/")
	var entries []struct {
		Name  string `json:"name"`
		Size  int64  `json:"size"`
		IsDir bool   `json:"is_dir"`
	}
	require.NoError(t, json.Unmarshal(body, &entries), "the JSON listing")
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = fmt.Sprintf("dir=%v size=%d", e.IsDir, e.Size)
	}
	assert.Equal(t, map[string]string{"a.txt": "dir=false size=5", "sub/": "dir=true size=0"}, got, "the JSON listing")

	// An empty container: its root is a folder with nothing in it.
	resp, body = fetch(t, tester, http.MethodGet, "/void/", "Accept", "application/json")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the listing of an empty container")
	assert.JSONEq(t, "[]", string(body), "the listing of an empty container")
	resp, _ = fetch(t, tester, http.MethodGet, "/void/anything.txt")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a file of an empty container")
}

// azureCall is a request Caddy sent to Azure, as the tap saw it.
type azureCall struct {
	method, blob, comp, rangeHeader string
	status                          int
	bytes                           int64 // of the body Azure sent
}

// azuriteTap stands between Caddy and Azurite and records every request
// and the bytes of every answer; endpoint is where Caddy is pointed.
type azuriteTap struct {
	endpoint string
	mu       sync.Mutex
	calls    []azureCall
}

// newAzuriteTap starts a tap in front of az on 127.0.0.1.
func newAzuriteTap(t *testing.T, az *azurite.Server) *azuriteTap {
	target, err := url.Parse(az.Endpoint)
	require.NoError(t, err)
	tap := &azuriteTap{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(resp *http.Response) error {
		call := azureCall{method: resp.Request.Method, comp: resp.Request.URL.Query().Get("comp"),
			rangeHeader: resp.Request.Header.Get("Range"), status: resp.StatusCode}
		call.blob = strings.TrimPrefix(resp.Request.URL.Path, target.Path+"/www/")
		resp.Body = &countingBody{ReadCloser: resp.Body, done: func(n int64) {
			call.bytes = n
			tap.mu.Lock()
			tap.calls = append(tap.calls, call)
			tap.mu.Unlock()
		}}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	tap.endpoint = srv.URL + target.Path
	return tap
}

// take returns the calls recorded since the last take.
func (tap *azuriteTap) take() []azureCall {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	calls := tap.calls
	tap.calls = nil
	return calls
}

// countingBody counts what is read of a body and reports it once, when
// it is closed.
type countingBody struct {
	io.ReadCloser
	n    int64
	once sync.Once
	done func(int64)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error {
	b.once.Do(func() { b.done(b.n) })
	return b.ReadCloser.Close()
}

// roundTrips names the calls as "METHOD blob" ("LIST prefix" for a
// listing), in order.
func roundTrips(calls []azureCall) []string {
	var out []string
	for _, c := range calls {
		if c.comp == "list" {
			out = append(out, "LIST")
			continue
		}
		out = append(out, c.method+" "+c.blob)
	}
	return out
}

// TestFilesystemRoundTripsAndBytesAgainstAzurite counts what the
// filesystem asks Azure, through a tap in front of Azurite: a file, a
// folder with its index, a listing and a single-page app's deep link, cold
// and then warm; a 1 MiB range of a 40 MiB blob moves the range and no
// more; and a blob replaced while its description is kept is never served
// with the old size.
func TestFilesystemRoundTripsAndBytesAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "www", false)
	large := bytes.Repeat([]byte("0123456789abcdef"), 40<<16) // 40 MiB
	const huge = 1 << 30                                      // 1 GiB, streamed up: the pattern of large, on and on
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	_, err := az.Client().UploadStream(ctx, "www", "media/huge.bin", io.LimitReader(&patternReader{}, huge), nil)
	cancel()
	require.NoError(t, err, "uploading 1 GiB")
	for name, data := range map[string][]byte{
		"docs/a.txt": []byte("alpha"), "docs/b.txt": []byte("bravo"), "about/index.html": []byte("<h1>about</h1>"),
		"app/index.html": []byte("<div id=app></div>"), "media/large.bin": large, "news.txt": []byte("old news"),
	} {
		az.Upload(t, "www", name, data, "")
	}
	tap := newAzuriteTap(t, az)
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, strings.Replace(filesystemGlobals(az, ""), az.Endpoint, tap.endpoint, 1)+`
http://localhost:{$TEST_PORT} {
	fs site
	`+appAndBrowse+`
}`)

	cases := []struct {
		what, path string
		cold, warm []string
	}{
		{"a file", "/docs/a.txt", []string{"HEAD docs/a.txt", "GET docs/a.txt"}, []string{"GET docs/a.txt"}},
		{"a folder with its index", "/about/", []string{"HEAD about", "LIST", "GET about/index.html"}, []string{"GET about/index.html"}},
		{"a listing", "/docs/", []string{"HEAD docs", "LIST"}, nil},
		{"a deep link of an app", "/app/users/42", []string{"HEAD app/users/42", "LIST", "HEAD app/index.html", "GET app/index.html"}, []string{"GET app/index.html"}},
	}
	figures := make([]string, 0, len(cases))
	for _, tc := range cases {
		resp, _ := fetch(t, tester, http.MethodGet, tc.path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: GET %s", tc.what, tc.path)
		cold := roundTrips(tap.take())
		assert.Equal(t, tc.cold, cold, "%s: what a first request asks Azure", tc.what)
		resp, _ = fetch(t, tester, http.MethodGet, tc.path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: GET %s again", tc.what, tc.path)
		warm := roundTrips(tap.take())
		assert.Equal(t, tc.warm, warm, "%s: what the same request asks within a few seconds", tc.what)
		figures = append(figures, fmt.Sprintf("%s %d then %d", tc.what, len(cold), len(warm)))
	}

	// A 1 MiB range from the middle of the 1 GiB blob.
	resp, body := fetch(t, tester, http.MethodGet, "/media/huge.bin", "Range", "bytes=536870917-537919492")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "a 1 MiB range")
	require.Equal(t, large[5:5+1<<20], body, "the range's bytes")
	var moved int64
	for _, c := range tap.take() {
		moved += c.bytes
	}
	assert.Equal(t, int64(1<<20), moved, "bytes Azure sent for a 1 MiB range of a 1 GiB blob")
	// The whole blob, read in windows that double up to 16 MiB.
	resp, body = fetch(t, tester, http.MethodGet, "/media/large.bin")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the whole 40 MiB blob")
	require.True(t, bytes.Equal(large, body), "the whole blob's bytes")
	var windows []string
	for _, c := range tap.take() {
		if c.method == http.MethodGet { // after the HEAD that sizes it
			windows = append(windows, c.rangeHeader)
		}
	}
	assert.Equal(t, []string{"bytes=0-1048575", "bytes=1048576-3145727", "bytes=3145728-7340031", "bytes=7340032-15728639",
		"bytes=15728640-32505855", "bytes=32505856-41943039"}, windows, "the windows of a whole read")

	// A blob replaced while its description is kept: the answer is cut off
	// rather than given with the old size, and the next one is the new blob.
	resp, body = fetch(t, tester, http.MethodGet, "/news.txt")
	require.Equal(t, "old news", string(body), "GET /news.txt")
	tap.take()
	az.Upload(t, "www", "news.txt", []byte("fresh news, longer"), "")
	req, err := http.NewRequest(http.MethodGet, testSite+"/news.txt", nil)
	require.NoError(t, err)
	resp, err = tester.Client.Do(req)
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		assert.Equal(t, "fresh news, longer", string(body), "a replaced blob was served with the old size or bytes")
	}
	if calls := tap.take(); assert.Len(t, calls, 1, "what the request after the upload asked") {
		calls[0].bytes = 0 // Azure's error document, dropped
		assert.Equal(t, azureCall{method: http.MethodGet, blob: "news.txt", rangeHeader: "bytes=0-7", status: http.StatusPreconditionFailed},
			calls[0], "the read is tied to the version the file was sized by")
	}
	resp, body = fetch(t, tester, http.MethodGet, "/news.txt")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /news.txt after the blob was replaced")
	assert.Equal(t, "fresh news, longer", string(body), "GET /news.txt after the blob was replaced")
	figure(t, "filesystem round trips to Azure, cold then warm: %s; a 1 MiB range of a 1 GiB blob moved %d bytes from Azurite",
		strings.Join(figures, "; "), moved)
}

// patternReader reads "0123456789abcdef" over and over.
type patternReader struct{ at int }

func (p *patternReader) Read(b []byte) (int, error) {
	const pattern = "0123456789abcdef"
	for i := range b {
		b[i] = pattern[p.at%len(pattern)]
		p.at++
	}
	return len(b), nil
}

// TestFilesystemOddNamesAndTheEdgeAgainstAzurite: every odd blob name of
// the azure_blob test is served byte-exact through file_server but the one
// with "//", which Caddy's path cleaning makes another name; names Azure
// cannot hold get 400 without Azure being asked; a filesystem with a prefix
// shows that folder only, and no path leaves it.
func TestFilesystemOddNamesAndTheEdgeAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "www", false)
	content := make(map[string][]byte, len(blobnames.Odd))
	for i, name := range blobnames.Odd {
		content[name] = fmt.Appendf(nil, "blob %d: %s", i, name)
		az.Upload(t, "www", name, content[name], "")
	}
	az.Upload(t, "www", "site/index.html", []byte("<h1>site</h1>"), "")
	az.Upload(t, "www", "site/inner/page.html", []byte("<p>inner</p>"), "")
	az.Upload(t, "www", "secret.txt", []byte("outside the prefix"), "")
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobalsWith(filesystemOption("site", az.Endpoint, "")+filesystemOption("floor", az.Endpoint, "\t\tprefix site/\n"))+`
http://localhost:{$TEST_PORT} {
	handle_path /all/* {
		fs site
		file_server
	}
	handle {
		fs floor
		file_server {
			browse
		}
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`)

	served := 0
	for _, name := range blobnames.Odd {
		if strings.Contains(name, "//") {
			continue // Caddy cleans the request's path: "dir//double" is "dir/double", another blob
		}
		path := "/all/" + azurite.EscapeBlobPath(name)
		resp, body := fetch(t, tester, http.MethodGet, path)
		if assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %.80s (%.60q)", path, name) &&
			assert.Equal(t, string(content[name]), string(body), "GET %.80s (%.60q)", path, name) {
			served++
		}
	}
	for _, path := range blobnames.Unholdable {
		resp, body := fetch(t, tester, http.MethodGet, "/all"+path)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "GET /all%.80s", path)
		assert.Equal(t, "error 400", string(body), "GET /all%.80s", path)
	}

	// The filesystem with prefix site/ serves the site's root.
	resp, body := fetch(t, tester, http.MethodGet, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the prefix's root")
	assert.Equal(t, "<h1>site</h1>", string(body), "the prefix's root serves its index")
	resp, body = fetch(t, tester, http.MethodGet, "/inner/page.html")
	assert.Equal(t, "<p>inner</p>", string(body), "a blob below the prefix")
	for _, path := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/secret.txt", "/inner/../../secret.txt"} {
		resp, body := fetch(t, tester, http.MethodGet, path)
		assert.NotEqual(t, http.StatusOK, resp.StatusCode, "GET %s left the prefix", path)
		assert.NotContains(t, string(body), "outside the prefix", "GET %s left the prefix", path)
	}
	resp, body = fetch(t, tester, http.MethodGet, "/inner/", "Accept", "application/json")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a listing below the prefix")
	assert.Contains(t, string(body), `"name":"page.html"`, "a listing below the prefix")
	figure(t, "%d of %d odd blob names served byte-exact through file_server and the azure_blob filesystem; %d names Azure cannot hold answered 400",
		served, len(blobnames.Odd), len(blobnames.Unholdable))
}

// TestFilesystemListsTwelveThousandBlobsAgainstAzurite: a folder of 12,000
// blobs, more than two of Azure's pages, lists whole with browse's
// file_limit 20000; with Caddy's default limit, 10,000 of them.
func TestFilesystemListsTwelveThousandBlobsAgainstAzurite(t *testing.T) {
	const blobs = 12000
	az := azurite.Start(t)
	az.CreateContainer(t, "www", false)
	names := make(chan string)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if _, err := az.Client().UploadBuffer(ctx, "www", name, []byte(name), nil); err != nil {
					failed.Add(1)
				}
				cancel()
			}
		}()
	}
	for i := range blobs {
		names <- fmt.Sprintf("many/%05d.txt", i)
	}
	close(names)
	wg.Wait()
	require.Zero(t, failed.Load(), "uploads that failed")
	az.Upload(t, "www", "few/only.txt", []byte("one"), "")
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, filesystemGlobals(az, "")+`
http://localhost:{$TEST_PORT} {
	fs site
	handle /many/* {
		file_server {
			browse {
				file_limit 20000
			}
		}
	}
	handle {
		file_server {
			browse
		}
	}
}`)
	// Three pages from Azurite and 12,000 entries to render take longer
	// than the test client waits, under the race detector.
	patient := *tester.Client
	patient.Timeout = 2 * time.Minute
	count := func(path string) int {
		req, err := http.NewRequest(http.MethodGet, testSite+path, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "application/json")
		resp, err := patient.Do(req)
		require.NoError(t, err, "GET %s", path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "GET %s", path)
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
		var entries []struct {
			Name string `json:"name"`
		}
		require.NoError(t, json.Unmarshal(body, &entries), "GET %s", path)
		seen := make(map[string]bool, len(entries))
		for _, e := range entries {
			seen[e.Name] = true
		}
		assert.Len(t, seen, len(entries), "GET %s: a name listed twice", path)
		return len(entries)
	}
	assert.Equal(t, blobs, count("/many/"), "entries with file_limit 20000")
	assert.Equal(t, 1, count("/few/"), "entries of a folder of one")
	figure(t, "a folder of %d blobs listed whole by file_server's browse over the azure_blob filesystem (file_limit 20000)", blobs)
}

// containerToken signs a container token for www of Azurite's account
// that grants perms.
func containerToken(t *testing.T, perms string) string {
	t.Helper()
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	p, err := sas.ParsePermissions(sas.ResourceContainer, perms)
	require.NoError(t, err)
	tok, err := (&sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: p, Container: "www", Expiry: time.Now().Add(time.Hour)}).Sign(key)
	require.NoError(t, err)
	return tok.Encode()
}

// TestFilesystemSASTokenGrantsWhatIsUsedAgainstAzurite: a sas_token
// without r is refused when the config loads; one with r but without l
// starts with a warning, serves files, and answers a listing 403; one
// with rl serves both. Neither ever reaches the log.
func TestFilesystemSASTokenGrantsWhatIsUsedAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "www", false)
	az.Upload(t, "www", "docs/a.txt", []byte("alpha"), "")
	readOnly, readList := containerToken(t, "r"), containerToken(t, "rl")
	t.Setenv("AZ_TOKEN_R", readOnly)
	t.Setenv("AZ_TOKEN_L", containerToken(t, "l"))
	t.Setenv("AZ_TOKEN_RL", readList)
	option := func(name, env string) string {
		return fmt.Sprintf("\tfilesystem %s azure_blob {\n\t\tendpoint %s\n\t\tcontainer www\n\t\tsas_token {env.%s}\n\t}\n", name, az.Endpoint, env)
	}
	site := `
http://localhost:{$TEST_PORT} {
	handle_path /r/* {
		fs r
		file_server {
			browse
		}
	}
	handle_path /rl/* {
		fs rl
		file_server {
			browse
		}
	}
}`
	err := loadError(t, caddyGlobalsWith(option("l", "AZ_TOKEN_L"))+`
http://localhost:{$TEST_PORT} {
	fs l
	file_server
}`)
	if assert.Error(t, err, "a sas_token without r") {
		assert.Contains(t, err.Error(), "sas_token: the token does not grant read (sp=l has no r)", "a sas_token without r")
		assert.NotContains(t, err.Error(), "sig=", "the error quotes the token")
	}

	logFile := filepath.Join(t.TempDir(), "caddy.log")
	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n")+option("r", "AZ_TOKEN_R")+option("rl", "AZ_TOKEN_RL"))+site)
	for _, prefix := range []string{"/r", "/rl"} {
		resp, body := fetch(t, tester, http.MethodGet, prefix+"/docs/a.txt")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s/docs/a.txt", prefix)
		assert.Equal(t, "alpha", string(body), "GET %s/docs/a.txt", prefix)
	}
	resp, _ := fetch(t, tester, http.MethodGet, "/r/docs/")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a listing with a token without l")
	resp, body := fetch(t, tester, http.MethodGet, "/rl/docs/", "Accept", "application/json")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a listing with a token with l")
	assert.Contains(t, string(body), `"name":"a.txt"`, "a listing with a token with l")

	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(logs), "sas_token does not grant list (l)"), "the warning about the token without l")
	for _, tok := range []string{readOnly, readList} {
		q, err := url.ParseQuery(tok)
		require.NoError(t, err)
		assert.NotContains(t, string(logs), q.Get("sig"), "a token's signature reached the log")
	}
}
