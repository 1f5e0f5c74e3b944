package cluster_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
)

// hugeBlob streams 1 GiB through the shield (passed, too big to keep) with
// the node's memory bounded, then reads a range of it.
func (d *deployment) hugeBlob(t *testing.T) {
	const size = 1 << 30
	sum := sha256.New()
	_, err := d.az.Client().UploadStream(context.Background(), "photos", "huge/1gib.bin",
		io.TeeReader(io.LimitReader(newPattern(), size), sum), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 2})
	require.NoError(t, err, "uploading 1 GiB to Azurite")
	want := sum.Sum(nil)

	before := make([]int64, len(d.nodes))
	for i, n := range d.nodes {
		n.ResetPeakRSS(t) // earlier subtests' peaks would hide this one
		before[i] = n.PeakRSS(t)
	}
	start := time.Now()
	resp, err := http.Get(d.shield.URL + "/images/huge/1gib.bin")
	require.NoError(t, err)
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, size, n, "bytes")
	assert.Equal(t, want, got.Sum(nil), "the bytes are the blob's")
	var growth int64
	for i, n := range d.nodes {
		growth = max(growth, n.PeakRSS(t)-before[i])
	}
	// 2.6 to 3.5 MB measured; 16 MB leaves room for the runtime, and is
	// far below what holding any part of the blob would take.
	assert.Less(t, growth, int64(16<<20), "a node's peak RSS grew by more than 16 MiB streaming 1 GiB")
	figures.Report(t, "1 GiB through Varnish and a node in %.1f s; the node's peak RSS grew %.1f MB", elapsed.Seconds(), float64(growth)/1e6)

	// Too big for the cache: a range goes through to a node, and Azure.
	resp, body := d.get(t, http.MethodGet, "/images/huge/1gib.bin", http.Header{"Range": {"bytes=536870912-536870975"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a range of the huge blob")
	assert.Equal(t, patternBytes(536870912, 64), body, "64 bytes from the middle")
	assert.Equal(t, []string{"200", "206"}, d.azureGets("huge/1gib.bin"), "the range reached Azure as a range")
}

// newKey returns a random account key, base64 as Azure shows them.
func newKey(t *testing.T) string {
	return base64.StdEncoding.EncodeToString(randomBytes(t, 64))
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// pattern is an endless stream whose every 8 bytes are their own offset,
// big-endian: bytes out of place or from another blob show.
type pattern struct{ off int64 }

func newPattern() *pattern { return &pattern{} }

func (p *pattern) Read(b []byte) (int, error) {
	copy(b, patternBytes(p.off, len(b)))
	p.off += int64(len(b))
	return len(b), nil
}

// patternBytes is n bytes of the pattern from offset off.
func patternBytes(off int64, n int) []byte {
	start := off &^ 7
	buf := make([]byte, 0, n+16)
	for w := start; w < off+int64(n); w += 8 {
		buf = binary.BigEndian.AppendUint64(buf, uint64(w))
	}
	return buf[off-start : off-start+int64(n)]
}
