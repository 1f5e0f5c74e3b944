package azurestub_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
)

// do sends method to target with header as name, value pairs, and returns
// the answer with its body read.
func do(t *testing.T, method, target string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, target)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "%s %s: reading the body", method, target)
	return resp, string(body)
}

// TestServesHeldBlobsAsAzureDoes: a blob Put is served with its ETag,
// length and properties, one range, and its conditions; another name is
// BlobNotFound.
func TestServesHeldBlobsAsAzureDoes(t *testing.T) {
	s := azurestub.New(t)
	etag := s.Put("photos", "a b.txt", []byte("0123456789"), http.Header{"Content-Type": {"text/plain"}})
	blob := s.Endpoint + "/photos/a%20b.txt"

	resp, body := do(t, http.MethodGet, blob)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "0123456789", body)
	assert.Equal(t, etag, resp.Header.Get("ETag"))
	assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	assert.Equal(t, "10", resp.Header.Get("Content-Length"))

	resp, body = do(t, http.MethodHead, blob)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD")
	assert.Empty(t, body, "HEAD")
	assert.Equal(t, int64(10), resp.ContentLength, "HEAD")

	for _, tc := range []struct {
		header       []string
		status       int
		body, cRange string
	}{
		{[]string{"Range", "bytes=2-5"}, http.StatusPartialContent, "2345", "bytes 2-5/10"},
		{[]string{"Range", "bytes=6-"}, http.StatusPartialContent, "6789", "bytes 6-9/10"},
		{[]string{"Range", "bytes=8-100"}, http.StatusPartialContent, "89", "bytes 8-9/10"},
		{[]string{"Range", "bytes=10-"}, http.StatusRequestedRangeNotSatisfiable, "", "bytes */10"},
		{[]string{"Range", "bytes=-4"}, http.StatusOK, "0123456789", ""},      // a suffix range: not Azure's
		{[]string{"Range", "bytes=0-1,4-5"}, http.StatusOK, "0123456789", ""}, // several: not Azure's
		{[]string{"If-Match", `"other", ` + etag}, http.StatusOK, "0123456789", ""},
		{[]string{"If-Match", "*"}, http.StatusOK, "0123456789", ""},
		{[]string{"If-Match", `"other"`}, http.StatusPreconditionFailed, "", ""},
		{[]string{"If-None-Match", etag}, http.StatusNotModified, "", ""},
		{[]string{"If-None-Match", `"other"`}, http.StatusOK, "0123456789", ""},
	} {
		resp, body := do(t, http.MethodGet, blob, tc.header...)
		assert.Equal(t, tc.status, resp.StatusCode, "%q", tc.header)
		if tc.status < 400 {
			assert.Equal(t, tc.body, body, "%q", tc.header)
		} else {
			assert.Contains(t, body, "<Error>", "%q: Azure's error document", tc.header)
		}
		assert.Equal(t, tc.cRange, resp.Header.Get("Content-Range"), "%q", tc.header)
	}

	resp, body = do(t, http.MethodGet, s.Endpoint+"/photos/missing.txt")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another name")
	assert.Equal(t, "BlobNotFound", resp.Header.Get("x-ms-error-code"), "another name")
	assert.Contains(t, body, "<Code>BlobNotFound</Code>", "another name")
	resp, _ = do(t, http.MethodPut, blob)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "a write")

	replaced := s.Put("photos", "a b.txt", []byte("new"), nil)
	assert.NotEqual(t, etag, replaced, "a new version has a new ETag")
	resp, body = do(t, http.MethodGet, blob, "If-Match", etag)
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "the old version's ETag")
	assert.NotContains(t, body, "new")
}

// TestScriptedAnswersIgnoreWhatIsAsked: statuses come in turn, whatever the
// request names, then 200.
func TestScriptedAnswersIgnoreWhatIsAsked(t *testing.T) {
	s := azurestub.Scripted(t, http.StatusForbidden, http.StatusPartialContent, http.StatusNotFound)
	for i, tc := range []struct {
		status int
		body   string
		code   string
	}{
		{http.StatusForbidden, "String to sign used was", "AuthenticationFailed"},
		{http.StatusPartialContent, azurestub.ScriptedBody, ""},
		{http.StatusNotFound, "String to sign used was", ""},
		{http.StatusOK, azurestub.ScriptedBody, ""},
		{http.StatusOK, azurestub.ScriptedBody, ""},
	} {
		resp, body := do(t, http.MethodGet, s.Endpoint+"/any/name.jpg", "Range", "bytes=0-3", "If-Match", `"nope"`)
		assert.Equal(t, tc.status, resp.StatusCode, "answer %d", i)
		assert.Contains(t, body, tc.body, "answer %d", i)
		assert.Equal(t, tc.code, resp.Header.Get("x-ms-error-code"), "answer %d", i)
		assert.Equal(t, `"0x1"`, resp.Header.Get("ETag"), "answer %d", i)
		assert.Equal(t, "Windows-Azure-Blob/1.0", resp.Header.Get("Server"), "answer %d", i)
	}
	resp, body := do(t, http.MethodHead, s.URL+"/x")
	assert.Equal(t, int64(len(azurestub.ScriptedBody)), resp.ContentLength, "HEAD: the length of the scripted body")
	assert.Empty(t, body, "HEAD")
	assert.Len(t, azurestub.ScriptedBody, 10, "the length tests work ranges out from")
}

// TestRecordsEachRequestAsSent: method, host, path decoded and as sent,
// query, headers, body and the status answered.
func TestRecordsEachRequestAsSent(t *testing.T) {
	s := azurestub.New(t)
	s.Put("photos", "a/b#c.jpg", []byte("C"), nil)
	req, err := http.NewRequest(http.MethodGet, s.Endpoint+"/photos/a%2Fb%23c.jpg?sig=x&sp=r", strings.NewReader("client body"))
	require.NoError(t, err)
	req.Header.Set("X-Ms-Version", "2025-11-05")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	_, _ = do(t, http.MethodHead, s.Endpoint+"/photos/missing")

	got := s.Requests()
	require.Len(t, got, 2)
	r := got[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, strings.TrimPrefix(s.URL, "http://"), r.Host)
	assert.Equal(t, "/devstoreaccount1/photos/a/b#c.jpg", r.Path)
	assert.Equal(t, "/devstoreaccount1/photos/a%2Fb%23c.jpg", r.EscapedPath)
	assert.Equal(t, "sig=x&sp=r", r.RawQuery)
	assert.Equal(t, "x", r.Query.Get("sig"))
	assert.Equal(t, "2025-11-05", r.Header.Get("X-Ms-Version"))
	assert.Equal(t, "client body", string(r.Body))
	assert.Equal(t, int64(len("client body")), r.ContentLength)
	assert.Equal(t, http.StatusOK, r.Status, "blobs are found by decoded path")
	assert.Equal(t, http.MethodHead, got[1].Method)
	assert.Equal(t, http.StatusNotFound, got[1].Status)
}

// TestHooksSeeEachRequestAndMayAnswer: hooks run in order before the
// answer; one that answers ends the chain, and may use Answer and then
// change what the stand-in holds.
func TestHooksSeeEachRequestAndMayAnswer(t *testing.T) {
	s := azurestub.New(t)
	s.Put("c", "b", []byte("old"), nil)
	var seen []string
	s.Hook(func(_ http.ResponseWriter, r *http.Request) bool {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		seen = append(seen, r.Method+" "+string(body))
		return false
	})
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/" + azurestub.Account + "/c/teapot":
			azurestub.WriteError(w, http.StatusTeapot, "Teapot")
			return true
		case "/" + azurestub.Account + "/c/b":
			if r.Method == http.MethodHead {
				s.Answer(w, r)
				s.Put("c", "b", []byte("new!"), nil)
				return true
			}
		}
		return false
	})

	resp, _ := do(t, http.MethodGet, s.Endpoint+"/c/teapot")
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "Teapot", resp.Header.Get("x-ms-error-code"))
	resp, _ = do(t, http.MethodHead, s.Endpoint+"/c/b")
	assert.Equal(t, int64(3), resp.ContentLength, "the HEAD is answered before the blob is replaced")
	_, body := do(t, http.MethodGet, s.Endpoint+"/c/b")
	assert.Equal(t, "new!", body, "replaced right after the HEAD")

	assert.Equal(t, []string{"GET ", "HEAD ", "GET "}, seen, "the first hook sees every request, with its body")
	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{http.StatusTeapot, http.StatusOK, http.StatusOK}, statuses, "the statuses hooks answered with are recorded")
}
