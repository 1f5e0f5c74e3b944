package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
)

func TestTransportResolvesSuffixRanges(t *testing.T) {
	for _, tc := range []struct{ asked, sent string }{
		{"bytes=-4", "bytes=6-"},   // the blob is 10 bytes
		{"bytes=-100", "bytes=0-"}, // more than the blob: all of it
		{"bytes=-0", "bytes=11-"},  // nothing: past the end, so 416
		{"bytes=2-5", "bytes=2-5"}, // absolute ranges pass as they are
		{"bytes=0-1,4-5", ""},      // several ranges: the whole blob
		{"bytes=-x", ""},           // malformed: the whole blob
	} {
		t.Run(tc.asked, func(t *testing.T) {
			azure := azurestub.Scripted(t)
			tr := devTransport(azure.URL)
			provisionTransport(t, tr)
			in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.jpg", nil)
			in.Header.Set("Range", tc.asked)
			resp, err := tr.RoundTrip(atUpstream(in, azure))
			require.NoError(t, err)
			resp.Body.Close()
			got := azure.Requests()
			require.NotEmpty(t, got, "nothing reached Azure")
			last := got[len(got)-1]
			assert.Equal(t, http.MethodGet, last.Method, "Azure's last request")
			assert.Equal(t, tc.sent, last.Header.Get("Range"), "Range Azure got")
			if suffix := strings.HasPrefix(tc.asked, "bytes=-") && tc.sent != ""; suffix {
				require.Len(t, got, 2, "a suffix range is resolved with a plain HEAD first")
				assert.Equal(t, http.MethodHead, got[0].Method, "a suffix range is resolved with a plain HEAD first")
				assert.Empty(t, got[0].Header.Get("Range"), "a suffix range is resolved with a plain HEAD first")
			} else {
				assert.Len(t, got, 1, "requests")
			}
		})
	}
}

func TestTransportHealsARefusedSuffixRangeHead(t *testing.T) {
	azure := azurestub.Scripted(t, http.StatusForbidden, http.StatusOK, http.StatusPartialContent)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	in := clientRequest(http.MethodGet, "http://x/photos/a.jpg")
	in.Header.Set("Range", "bytes=-4")
	resp, err := tr.RoundTrip(atUpstream(in, azure))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	// HEAD, HEAD again with a fresh token, GET bytes=6-.
	got := azure.Requests()
	require.Len(t, got, 3, "want HEAD, HEAD again with a fresh token, GET bytes=6-")
	assert.Equal(t, http.MethodHead, got[0].Method)
	assert.Equal(t, http.MethodHead, got[1].Method)
	assert.Equal(t, http.MethodGet, got[2].Method)
	assert.Equal(t, "bytes=6-", got[2].Header.Get("Range"))
}

// heldBlob is a stand-in for Azure holding photos/a.bin with content, and
// the blob's ETag.
func heldBlob(t *testing.T, content string) (azure *azurestub.Server, etag string) {
	azure = azurestub.New(t)
	return azure, azure.Put("photos", "a.bin", []byte(content), nil)
}

// replaceAfterFirstHead replaces photos/a.bin with content right after
// azure answers its first HEAD, as an upload between the transport's HEAD
// and its GET would.
func replaceAfterFirstHead(azure *azurestub.Server, content string) {
	var replaced atomic.Bool
	azure.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodHead || !replaced.CompareAndSwap(false, true) {
			return false
		}
		azure.Answer(w, r) // with the version the HEAD sizes
		azure.Put("photos", "a.bin", []byte(content), nil)
		return true
	})
}

// methodsOf is the method of each request, in order.
func methodsOf(got []azurestub.Request) []string {
	methods := make([]string, len(got))
	for i, r := range got {
		methods[i] = r.Method
	}
	return methods
}

// suffixGet sends GET /photos/a.bin with Range: bytes=-n (and the client's
// If-Match, if any) through a transport to azure.
func suffixGet(t *testing.T, azure *azurestub.Server, n int, ifMatch string) (*http.Response, string) {
	t.Helper()
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.bin", nil)
	in.Header.Set("Range", fmt.Sprintf("bytes=-%d", n))
	if ifMatch != "" {
		in.Header.Set("If-Match", ifMatch)
	}
	resp, err := tr.RoundTrip(atUpstream(in, azure))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	return resp, string(body)
}

// TestTransportTiesASuffixRangeToTheVersionItSized: bytes=-N is sized with
// a HEAD and read with a GET. If the blob is replaced in between, the GET
// must not return bytes of the new blob at offsets worked out from the old
// one's length: the GET carries If-Match with the ETag the HEAD saw, and a
// 412 (the blob changed) is answered with the whole new blob.
func TestTransportTiesASuffixRangeToTheVersionItSized(t *testing.T) {
	old, replacement := "0123456789", "abcdefghijklmnopqrstuvwxyz"

	t.Run("unchanged", func(t *testing.T) {
		azure, v0 := heldBlob(t, old)
		resp, body := suffixGet(t, azure, 4, "")
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, "6789", body)
		assert.Equal(t, "bytes 6-9/10", resp.Header.Get("Content-Range"))
		got := azure.Requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet}, methodsOf(got))
		assert.Equal(t, v0, got[1].Header.Get("If-Match"), "the GET is tied to the version the HEAD sized")
		assert.Equal(t, "bytes=6-", got[1].Header.Get("Range"))
	})

	t.Run("replaced between HEAD and GET", func(t *testing.T) {
		azure, v0 := heldBlob(t, old)
		replaceAfterFirstHead(azure, replacement)
		resp, body := suffixGet(t, azure, 4, "")
		// Untied, the GET for bytes=6- would have answered "ghijklmnopqrstuvwxyz":
		// the new blob's bytes at the old blob's offsets.
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the whole new blob, as RFC 9110 allows")
		assert.Equal(t, replacement, body)
		got := azure.Requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet, http.MethodGet}, methodsOf(got))
		assert.Equal(t, v0, got[1].Header.Get("If-Match"))
		assert.Empty(t, got[2].Header.Get("If-Match"), "the whole-blob GET carries no condition the client did not send")
		assert.Empty(t, got[2].Header.Get("Range"), "the whole-blob GET carries no range")
	})

	t.Run("the client's If-Match names the sized version", func(t *testing.T) {
		azure, v0 := heldBlob(t, old)
		resp, body := suffixGet(t, azure, 3, `"v7", `+v0)
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, "789", body)
		got := azure.Requests()
		require.Len(t, got, 2, "a HEAD and a GET")
		assert.Equal(t, v0, got[1].Header.Get("If-Match"))
	})

	t.Run("the client's If-Match names another version", func(t *testing.T) {
		// Azure decides on the client's own condition, for the whole blob.
		azure, _ := heldBlob(t, old)
		resp, body := suffixGet(t, azure, 3, `"v7"`)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
		assert.Empty(t, body)
		got := azure.Requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet}, methodsOf(got), "a 412 the client asked for is not retried")
		assert.Equal(t, `"v7"`, got[1].Header.Get("If-Match"))
		assert.Empty(t, got[1].Header.Get("Range"))
	})

	t.Run("the client's condition fails after a replacement", func(t *testing.T) {
		// The client asks for the old version's tail; the blob is replaced
		// between HEAD and GET: the answer is the client's 412, not bytes
		// of either version.
		azure, v0 := heldBlob(t, old)
		replaceAfterFirstHead(azure, replacement)
		resp, body := suffixGet(t, azure, 4, v0)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
		assert.Empty(t, body)
		got := azure.Requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet, http.MethodGet}, methodsOf(got))
		assert.Equal(t, v0, got[2].Header.Get("If-Match"), "the client's own condition, on the whole-blob GET")
	})
}
