package caddymodule_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/blobnames"
)

// pngOf is a file the sniffer takes for a PNG, n bytes long.
func pngOf(n int, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

// TestUploadsAgainstAzurite: azure_upload takes what its limits allow and
// stores nothing else, each case checked with a listing of what Azurite
// holds afterwards: a PNG at the limit; one byte over, with a length and
// chunked; HTML named .jpg and a zip; an existing name; eight uploads
// racing to one name; a client that stops halfway; users under their own
// prefix, and a prefix that does not resolve; a method other than PUT.
func TestUploadsAgainstAzurite(t *testing.T) {
	const limit = 64 << 10
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	t.Setenv("AZ_TEST_KEY", az.Key)
	hash := passwordHash(t, "secret-password")
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	route /upload/* {
		basic_auth {
			alice %[2]s
			bob %[2]s
		}
		header >X-Stored-As {http.azure_upload.name}:{http.azure_upload.blob}
		azure_upload {
			strip_prefix /upload
			endpoint %[1]s
			container uploads
			account_key {env.AZ_TEST_KEY}
			prefix users/{http.auth.user.id}/
			max_size 64KiB
			types image/png image/jpeg
		}
	}
	azure_upload /open/* {
		strip_prefix /open
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		prefix users/{http.auth.user.id}/
		max_size 64KiB
		types image/png
	}
	azure_upload /replace/* {
		strip_prefix /replace
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		prefix shared/
		max_size 64KiB
		types image/png
		overwrite
	}
}`, az.Endpoint, hash))
	put := func(user, path string, body io.Reader, length int64) (*http.Response, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, testSite+path, body)
		require.NoError(t, err)
		req.ContentLength = length
		if user != "" {
			req.SetBasicAuth(user, "secret-password")
		}
		req.Header.Set("Content-Type", "image/png") // a client's word, which is never taken
		resp, err := tester.Client.Do(req)
		require.NoError(t, err, "PUT %s", path)
		defer resp.Body.Close()
		var answer map[string]any
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &answer), "PUT %s: the answer is JSON: %s", path, data)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "PUT %s", path)
		assert.NotContains(t, string(data), "sig=", "PUT %s: the answer holds a token", path)
		return resp, answer
	}
	stored := func() []string {
		names := az.Names(t, "uploads")
		slices.Sort(names)
		return names
	}

	// At the limit: stored as sent, with the type the bytes tell.
	atLimit := pngOf(limit, 'a')
	resp, answer := put("alice", "/upload/a.png", bytes.NewReader(atLimit), limit)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "a PNG at the limit: %v", answer)
	assert.Equal(t, "/upload/a.png", resp.Header.Get("Location"), "without location, the request's path")
	assert.Equal(t, "a.png:users/alice/a.png", resp.Header.Get("X-Stored-As"), "the placeholders, in a deferred header")
	assert.Equal(t, "users/alice/a.png", answer["blob"])
	assert.Equal(t, "uploads", answer["container"])
	assert.Equal(t, float64(limit), answer["size"])
	assert.Equal(t, "image/png", answer["content_type"])
	assert.NotEmpty(t, answer["etag"])
	assert.Equal(t, atLimit, az.Download(t, "uploads", "users/alice/a.png"), "the stored bytes")
	assert.Equal(t, "image/png", az.ContentType(t, "uploads", "users/alice/a.png"), "the stored type")

	// Over the limit, with a length (refused before Azure) and chunked.
	resp, answer = put("alice", "/upload/big.png", bytes.NewReader(pngOf(limit+1, 'b')), limit+1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "one byte over, with Content-Length: %v", answer)
	resp, answer = put("alice", "/upload/big.png", io.MultiReader(bytes.NewReader(pngOf(limit+1, 'b'))), -1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "one byte over, chunked: %v", answer)
	// Types taken from the bytes, not the name or the client's word.
	resp, answer = put("alice", "/upload/page.jpg", strings.NewReader("<!doctype html><script>alert(1)</script>"), -1)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "HTML named .jpg: %v", answer)
	assert.Contains(t, answer["error"], "text/html", "HTML named .jpg")
	resp, answer = put("alice", "/upload/archive.png", strings.NewReader("PK\x03\x04 a zip, not an image"), -1)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "a zip: %v", answer)
	// An existing name: the blob is unchanged.
	resp, answer = put("alice", "/upload/a.png", bytes.NewReader(pngOf(100, 'z')), 100)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "an existing name: %v", answer)
	assert.Equal(t, atLimit, az.Download(t, "uploads", "users/alice/a.png"), "the existing blob after a second upload")
	assert.Equal(t, []string{"users/alice/a.png"}, stored(), "what Azurite holds after the refusals")

	// Eight uploads racing to one name: one is stored, whole.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			resp, _ := put("bob", "/upload/race.png", bytes.NewReader(pngOf(40<<10, byte('0'+i))), 40<<10)
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	assert.Equal(t, []int{201, 409, 409, 409, 409, 409, 409, 409}, statuses, "eight uploads to one name")
	won := az.Download(t, "uploads", "users/bob/race.png")
	assert.Equal(t, pngOf(40<<10, won[len(won)-1]), won, "the stored blob is one upload, whole")

	// A client that stops halfway: nothing is stored.
	conn, err := net.Dial("tcp", "127.0.0.1:"+testPort)
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "PUT /upload/half.png HTTP/1.1\r\nHost: localhost:"+testPort+"\r\nAuthorization: Basic %s\r\nContent-Length: 60000\r\n\r\n",
		basicCredentials("alice", "secret-password"))
	require.NoError(t, err)
	_, err = conn.Write(pngOf(30000, 'h'))
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the first block is on its way
	require.NoError(t, conn.Close())
	// Each user under their own prefix; a prefix that does not resolve.
	resp, _ = put("bob", "/upload/a.png", bytes.NewReader(pngOf(10, 'b')), 10)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "bob's a.png, under his own prefix")
	resp, answer = put("", "/open/x.png", bytes.NewReader(pngOf(10, 'x')), 10)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a prefix that does not resolve: %v", answer)
	// overwrite replaces.
	for _, fill := range []byte{'1', '2'} {
		resp, answer = put("", "/replace/logo.png", bytes.NewReader(pngOf(10, fill)), 10)
		assert.Equal(t, http.StatusCreated, resp.StatusCode, "overwrite: %v", answer)
	}
	assert.Equal(t, pngOf(10, '2'), az.Download(t, "uploads", "shared/logo.png"), "overwrite replaced the blob")
	assert.Eventually(t, func() bool {
		return slices.Equal([]string{"shared/logo.png", "users/alice/a.png", "users/bob/a.png", "users/bob/race.png"}, stored())
	}, 5*time.Second, 100*time.Millisecond, "what Azurite holds at the end: %v", stored())
	assert.Equal(t, atLimit, az.Download(t, "uploads", "users/alice/a.png"), "alice's a.png after bob's")

	req, err := http.NewRequest(http.MethodGet, testSite+"/open/x.png", nil)
	require.NoError(t, err)
	resp, err = tester.Client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "GET")
	assert.Equal(t, "PUT", resp.Header.Get("Allow"), "GET")

	// Every upload is counted by its result, and logged once.
	want := map[string]float64{"created": 5, "too_large": 2, "type": 2, "exists": 8, "aborted": 1, "error": 2}
	metrics := scrapeMetrics(t)
	for result, n := range want {
		got, ok := metricValue(metrics, "caddy_azure_uploads_total", `container="uploads",result="`+result+`"`)
		assert.True(t, ok, "no caddy_azure_uploads_total for %s", result)
		assert.Equal(t, n, got, "caddy_azure_uploads_total for %s", result)
	}
	var lines []map[string]any
	assert.Eventually(t, func() bool {
		lines = uploadLogLines(t, logFile)
		return len(lines) == 20
	}, 5*time.Second, 100*time.Millisecond, "upload log lines")
	results := map[string]float64{}
	for _, line := range lines {
		results[line["result"].(string)]++
		assert.Equal(t, "info", line["level"], "an upload's line")
		assert.NotEmpty(t, line["client"], "an upload's line names the client")
	}
	assert.Equal(t, want, results, "upload log lines by result")
	created := lines[0]
	assert.Equal(t, "alice", created["user"], "the first upload's line")
	assert.Equal(t, "users/alice/a.png", created["blob"], "the first upload's line")
	assert.Equal(t, float64(limit), created["size"], "the first upload's line")
	assert.Equal(t, "image/png", created["type"], "the first upload's line")
	figure(t, "azure_upload against Azurite: at the limit 201; one byte over 413 with a length and chunked; HTML named .jpg and a zip 415; "+
		"an existing name 409 unchanged; of 8 racing uploads one 201 and 7 409; a client that stopped halfway left no blob; "+
		"%d blobs held at the end, the ones allowed", len(stored()))
}

// uploadLogLines is the "upload" entries of the JSON log in logFile.
func uploadLogLines(t *testing.T, logFile string) []map[string]any {
	t.Helper()
	return logEntries(t, logFile, func(e map[string]any) bool { return e["msg"] == "upload" })
}

// basicCredentials is the value of an Authorization: Basic header.
func basicCredentials(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// TestUploadOddNamesAgainstAzurite: every odd blob name of the azure_blob
// test is taken as the name it spells, byte-exact, and its Location (a
// location with the blob's name) reads it back through azure_blob; the
// names Azure cannot hold get 400 and store nothing.
func TestUploadOddNamesAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_upload /u/* {
		strip_prefix /u
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		max_size 1MB
		types image/png
		location /media/{http.azure_upload.blob}
	}
	azure_blob /media/* {
		strip_prefix /media
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
	}
}`, az.Endpoint))
	put := func(path string, body []byte) (int, string) {
		req, err := http.NewRequest(http.MethodPut, testSite+path, bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := tester.Client.Do(req)
		require.NoError(t, err, "PUT %.80s", path)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for i, name := range blobnames.Odd {
		body := append(pngOf(16, 'p'), name...)
		status, location := put("/u/"+azurite.EscapeBlobPath(name), body)
		if !assert.Equal(t, http.StatusCreated, status, "PUT %.60q (%d)", name, i) {
			continue
		}
		assert.Equal(t, body, az.Download(t, "uploads", name), "the blob %.60q", name)
		// The Location, followed as a browser would, reads the file back.
		require.True(t, strings.HasPrefix(location, "/media/"), "Location %.80q", location)
		resp, err := tester.Client.Get(testSite + location)
		require.NoError(t, err, "GET the Location %.80q", location)
		read, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if assert.Equal(t, http.StatusOK, resp.StatusCode, "GET the Location %.80q of %.60q", location, name) {
			assert.Equal(t, body, read, "the file read at the Location of %.60q", name)
		}
	}
	for _, path := range blobnames.Unholdable {
		status, _ := put("/u"+path, pngOf(16, 'x'))
		assert.Equal(t, http.StatusBadRequest, status, "PUT /u%.80s", path)
	}
	held := az.Names(t, "uploads")
	slices.Sort(held)
	want := slices.Clone(blobnames.Odd)
	slices.Sort(want)
	assert.Equal(t, want, held, "what Azurite holds: the odd names, and nothing else")
	figure(t, "azure_upload stored all %d odd blob names byte-exact in Azurite, each read back at its Location; %d names Azure cannot hold answered 400, nothing stored",
		len(blobnames.Odd), len(blobnames.Unholdable))
}
