package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replacedBlob stands in for Azure serving one blob that is replaced by
// another version right after the first HEAD, as an upload between the
// transport's HEAD and its GET would. It honours If-Match and single
// ranges a-b and a- as Azure does, and records each request.
type replacedBlob struct {
	*httptest.Server
	mu       sync.Mutex
	versions []string // the blob's content, version by version
	current  int
	replace  bool // switch to the next version after the first HEAD
	got      []http.Header
	methods  []string
}

func newReplacedBlob(t *testing.T, replace bool, versions ...string) *replacedBlob {
	b := &replacedBlob{versions: versions, replace: replace}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.got = append(b.got, r.Header.Clone())
		b.methods = append(b.methods, r.Method)
		body, etag := b.versions[b.current], fmt.Sprintf(`"v%d"`, b.current)
		if r.Method == http.MethodHead && b.replace && b.current+1 < len(b.versions) {
			defer func() { b.current++ }()
		}
		w.Header().Set("ETag", etag)
		if m := r.Header.Get("If-Match"); m != "" && m != etag && m != "*" {
			w.Header().Set("x-ms-error-code", "ConditionNotMet")
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		status, first, last := http.StatusOK, 0, len(body)-1
		if spec, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
			a, b, _ := strings.Cut(spec, "-")
			first, _ = strconv.Atoi(a)
			if b != "" {
				last, _ = strconv.Atoi(b)
			}
			if first >= len(body) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(body)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			last = min(last, len(body)-1)
			status = http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(body)))
		}
		w.Header().Set("Content-Length", strconv.Itoa(last-first+1))
		w.WriteHeader(status)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, body[first:last+1])
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *replacedBlob) requests() ([]string, []http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.methods...), append([]http.Header(nil), b.got...)
}

// suffixGet sends GET /photos/a.bin with Range: bytes=-n (and the client's
// If-Match, if any) through a transport to b.
func suffixGet(t *testing.T, b *replacedBlob, n int, ifMatch string) (*http.Response, string) {
	t.Helper()
	tr := devTransport(b.URL)
	provisionTransport(t, tr)
	in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.bin", nil)
	in.Header.Set("Range", fmt.Sprintf("bytes=-%d", n))
	if ifMatch != "" {
		in.Header.Set("If-Match", ifMatch)
	}
	in.URL.Host = strings.TrimPrefix(b.URL, "http://")
	resp, err := tr.RoundTrip(in)
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
		b := newReplacedBlob(t, false, old)
		resp, body := suffixGet(t, b, 4, "")
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, "6789", body)
		assert.Equal(t, "bytes 6-9/10", resp.Header.Get("Content-Range"))
		methods, headers := b.requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet}, methods)
		assert.Equal(t, `"v0"`, headers[1].Get("If-Match"), "the GET is tied to the version the HEAD sized")
		assert.Equal(t, "bytes=6-", headers[1].Get("Range"))
	})

	t.Run("replaced between HEAD and GET", func(t *testing.T) {
		b := newReplacedBlob(t, true, old, replacement)
		resp, body := suffixGet(t, b, 4, "")
		// Untied, the GET for bytes=6- would have answered "ghijklmnopqrstuvwxyz":
		// the new blob's bytes at the old blob's offsets.
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the whole new blob, as RFC 9110 allows")
		assert.Equal(t, replacement, body)
		methods, headers := b.requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet, http.MethodGet}, methods)
		assert.Equal(t, `"v0"`, headers[1].Get("If-Match"))
		assert.Empty(t, headers[2].Get("If-Match"), "the whole-blob GET carries no condition the client did not send")
		assert.Empty(t, headers[2].Get("Range"), "the whole-blob GET carries no range")
	})

	t.Run("the client's If-Match names the sized version", func(t *testing.T) {
		b := newReplacedBlob(t, false, old)
		resp, body := suffixGet(t, b, 3, `"v7", "v0"`)
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, "789", body)
		_, headers := b.requests()
		assert.Equal(t, `"v0"`, headers[1].Get("If-Match"))
	})

	t.Run("the client's If-Match names another version", func(t *testing.T) {
		// Azure decides on the client's own condition, for the whole blob.
		b := newReplacedBlob(t, false, old)
		resp, body := suffixGet(t, b, 3, `"v7"`)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
		assert.Empty(t, body)
		methods, headers := b.requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet}, methods, "a 412 the client asked for is not retried")
		assert.Equal(t, `"v7"`, headers[1].Get("If-Match"))
		assert.Empty(t, headers[1].Get("Range"))
	})

	t.Run("the client's condition fails after a replacement", func(t *testing.T) {
		// The client asks for the old version's tail; the blob is replaced
		// between HEAD and GET: the answer is the client's 412, not bytes
		// of either version.
		b := newReplacedBlob(t, true, old, replacement)
		resp, body := suffixGet(t, b, 4, `"v0"`)
		assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
		assert.Empty(t, body)
		methods, headers := b.requests()
		require.Equal(t, []string{http.MethodHead, http.MethodGet, http.MethodGet}, methods)
		assert.Equal(t, `"v0"`, headers[2].Get("If-Match"), "the client's own condition, on the whole-blob GET")
	})
}
