package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/cluster"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/figures"
)

// The TTL testdata/cluster/Caddyfile signs into every image token
// (cache_control "public, max-age=3"), and the one azure_blob gives a 404.
const (
	imageTTL    = 3 * time.Second
	notFoundTTL = 10 * time.Second
)

// deployment is what the tests run: Azurite with two keys, three nodes
// signing with the first, a stand-in for a busy Azure behind /busy/, and
// Varnish in front.
type deployment struct {
	az     *azurite.Server
	busy   *azurestub.Server
	nodes  []*cluster.Node
	shield *cluster.Shield
	keys   [3]string // key1 and key2 at Azurite; key3 replaces key1 when it is regenerated
}

func startDeployment(t *testing.T) *deployment {
	d := &deployment{}
	for i := range d.keys {
		d.keys[i] = newKey(t)
	}
	d.az = azurite.Start(t, azurite.Accounts(azurite.Account{Name: sas.DevAccountName, Keys: d.keys[:2]}))
	d.az.CreateContainer(t, "photos", false)
	d.busy = azurestub.New(t)
	d.busy.Hook(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "30")
		azurestub.WriteError(w, http.StatusServiceUnavailable, "ServerBusy")
		return true
	})
	routes := filepath.Join(t.TempDir(), "routes.caddy")
	require.NoError(t, os.WriteFile(routes, fmt.Appendf(nil, `handle_path /busy/* {
	azure_blob {
		endpoint %s
		container photos
		account_key {file.{$NODE_DATA}/account_key}
	}
}
`, d.busy.Endpoint), 0o644))
	bin := cluster.CaddyBinary(t)
	for i := range cluster.VCLPorts {
		d.nodes = append(d.nodes, cluster.StartNode(t, bin, fmt.Sprintf("node%d", i+1), d.az.Endpoint, d.keys[0], "NODE_ROUTES="+routes))
	}
	d.shield = cluster.StartShield(t, d.nodes...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range d.nodes {
				t.Logf("%s printed:\n%s", n.Name, n.Output())
			}
		}
	})
	return d
}

// TestShieldInFrontOfThreeNodes runs the deployment README describes and
// checks, through Varnish, what a shield or CDN in front of azure_blob
// relies on. The subtests share the deployment and run in order.
func TestShieldInFrontOfThreeNodes(t *testing.T) {
	d := startDeployment(t)
	t.Run("hits never reach Azure", d.hitsNeverReachAzure)
	t.Run("a stale object is revalidated, a changed one served whole", d.revalidation)
	t.Run("errors are kept as long as they say", d.errors)
	t.Run("a 1 GiB blob streams with bounded memory", d.hugeBlob)
	t.Run("rolling key rotation under load", d.rollingRotation)
	t.Run("a node dies under load", d.nodeDies)
	t.Run("nothing secret in what Varnish saw", d.nothingSecret) // last: it searches the whole run
}

// get asks the shield for path with header, and reads the whole answer.
func (d *deployment) get(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.shield.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// azureGets are the statuses Azurite answered the GETs for a blob of
// photos with, from its access log, once the log has settled: Azurite
// writes a request's line after its answer, so a line may come late.
func (d *deployment) azureGets(blob string) []string {
	last := d.loggedGets(blob)
	for settled := 0; settled < 3; {
		time.Sleep(100 * time.Millisecond)
		now := d.loggedGets(blob)
		if slices.Equal(now, last) {
			settled++
		} else {
			settled = 0
		}
		last = now
	}
	return last
}

// loggedGets are the statuses of the GETs for blob that Azurite's access
// log shows so far.
func (d *deployment) loggedGets(blob string) []string {
	var statuses []string
	needle := `"GET /` + sas.DevAccountName + "/photos/" + blob + "?"
	for line := range strings.SplitSeq(d.az.Output(1<<20), "\n") {
		if _, after, ok := strings.Cut(line, needle); ok {
			if _, rest, ok := strings.Cut(after, `" `); ok {
				statuses = append(statuses, strings.Fields(rest)[0])
			}
		}
	}
	return statuses
}

func (d *deployment) hitsNeverReachAzure(t *testing.T) {
	cat := randomBytes(t, 4096)
	d.az.Upload(t, "photos", "hits/cat.jpg", cat, "image/jpeg")

	resp, body := d.get(t, http.MethodGet, "/images/hits/cat.jpg", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, cat, body, "first read")
	assert.Equal(t, "miss", resp.Header.Get("X-Cache"), "first read")
	assert.Equal(t, "public, max-age=3", resp.Header.Get("Cache-Control"), "the TTL cache_control signs in")

	for i := range 5 {
		// A query string names no other object (azure_blob drops it).
		resp, body = d.get(t, http.MethodGet, fmt.Sprintf("/images/hits/cat.jpg?v=%d", i), nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, cat, body, "read %d", i+2)
		assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "read %d", i+2)
	}
	resp, body = d.get(t, http.MethodGet, "/images/hits/cat.jpg", http.Header{"Range": {"bytes=100-199"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a range of the cached object")
	assert.Equal(t, cat[100:200], body, "bytes 100-199")
	assert.Equal(t, "bytes 100-199/4096", resp.Header.Get("Content-Range"))
	resp, body = d.get(t, http.MethodGet, "/images/hits/cat.jpg", http.Header{"Range": {"bytes=-100"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a suffix range of the cached object")
	assert.Equal(t, cat[len(cat)-100:], body, "the last 100 bytes")
	resp, body = d.get(t, http.MethodHead, "/images/hits/cat.jpg", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD")
	assert.Equal(t, "4096", resp.Header.Get("Content-Length"), "HEAD")
	assert.Empty(t, body, "HEAD")
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "HEAD")

	assert.Equal(t, []string{"200"}, d.azureGets("hits/cat.jpg"), "Azure saw the first read only")
	// A HEAD first, on a miss, is fetched as a GET and cached for both.
	d.az.Upload(t, "photos", "hits/head-first.jpg", cat, "image/jpeg")
	resp, _ = d.get(t, http.MethodHead, "/images/hits/head-first.jpg", nil)
	assert.Equal(t, "4096", resp.Header.Get("Content-Length"), "HEAD on a miss")
	resp, body = d.get(t, http.MethodGet, "/images/hits/head-first.jpg", nil)
	assert.Equal(t, cat, body, "GET after a HEAD")
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "GET after a HEAD")
	assert.Equal(t, []string{"200"}, d.azureGets("hits/head-first.jpg"), "Azure saw one GET for the HEAD and the GET")
}

func (d *deployment) revalidation(t *testing.T) {
	v1, v2 := randomBytes(t, 3000), randomBytes(t, 5000)
	d.az.Upload(t, "photos", "ttl/a.bin", v1, "application/octet-stream")
	resp, body := d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, v1, body)
	etag := resp.Header.Get("ETag")
	assert.NotEmpty(t, etag, "Azure's ETag reaches the shield")
	assert.NotEmpty(t, resp.Header.Get("Last-Modified"), "Azure's Last-Modified reaches the shield")

	time.Sleep(imageTTL + 500*time.Millisecond)
	refreshed := time.Now()
	resp, body = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "past the TTL")
	assert.Equal(t, v1, body, "past the TTL, unchanged")
	assert.Equal(t, []string{"200", "304"}, d.azureGets("ttl/a.bin"), "past the TTL the shield revalidated (304), not fetched again")
	resp, _ = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "the 304 refreshed the object")
	assert.Equal(t, etag, resp.Header.Get("ETag"))

	d.az.Upload(t, "photos", "ttl/a.bin", v2, "application/octet-stream")
	changed := time.Now()
	var sawNew time.Duration
	for time.Since(changed) < imageTTL+3*time.Second {
		_, body = d.get(t, http.MethodGet, "/images/ttl/a.bin", nil)
		_, partial := d.get(t, http.MethodGet, "/images/ttl/a.bin", http.Header{"Range": {"bytes=-1000"}})
		switch {
		case bytes.Equal(body, v2):
			sawNew = time.Since(changed)
			assert.Equal(t, v2[len(v2)-1000:], partial, "a range of the new version")
		case bytes.Equal(body, v1):
			if !bytes.Equal(partial, v1[len(v1)-1000:]) && !bytes.Equal(partial, v2[len(v2)-1000:]) {
				t.Errorf("a range matches neither version")
			}
		default:
			t.Fatalf("%d bytes that are neither version", len(body))
		}
		if sawNew > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotZero(t, sawNew, "the changed blob was not served within its TTL; Azure answered %v", d.azureGets("ttl/a.bin"))
	assert.LessOrEqual(t, sawNew, imageTTL+time.Second, "the changed blob is served once the TTL runs out")
	// Not before: the 304 gave the refreshed object the signed TTL.
	assert.GreaterOrEqual(t, changed.Add(sawNew).Sub(refreshed), imageTTL-300*time.Millisecond,
		"the changed blob was served before the refreshed object's TTL ran out")
	figures.Report(t, "a changed blob was served %.1f s after it changed (TTL %s)", sawNew.Seconds(), imageTTL)
}

func (d *deployment) errors(t *testing.T) {
	first := time.Now()
	resp, _ := d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "max-age=10", resp.Header.Get("Cache-Control"), "what a 404 tells a shield")
	resp, _ = d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"), "the 404 is kept")
	assert.Len(t, d.azureGets("late/upload.jpg"), 1, "Azure saw one request for the missing name")

	late := randomBytes(t, 100)
	d.az.Upload(t, "photos", "late/upload.jpg", late, "image/jpeg")
	var shown time.Duration
	for time.Since(first) < notFoundTTL+3*time.Second {
		resp, body := d.get(t, http.MethodGet, "/images/late/upload.jpg", nil)
		if resp.StatusCode == http.StatusOK {
			assert.Equal(t, late, body)
			shown = time.Since(first)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NotZero(t, shown, "an upload after a 404 was not served")
	assert.LessOrEqual(t, shown, notFoundTTL+time.Second, "the 404 was kept past its max-age")
	assert.GreaterOrEqual(t, shown, notFoundTTL-300*time.Millisecond, "the 404 was not kept for its max-age")
	figures.Report(t, "an upload after a 404 was served %.1f s after the 404 (max-age=10)", shown.Seconds())

	for range 3 {
		resp, _ = d.get(t, http.MethodGet, "/busy/a.jpg", nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "Azure busy")
		assert.Equal(t, "30", resp.Header.Get("Retry-After"), "Azure's Retry-After")
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "what a 503 tells a shield")
	}
	assert.Len(t, d.busy.Requests(), 3, "every request for the busy blob reached Azure: the 503 was not kept")
}

// nothingSecret searches everything Varnish logged (client and backend
// requests and responses, object headers) for a token or Azure's headers.
func (d *deployment) nothingSecret(t *testing.T) {
	log := d.shield.Log(t)
	require.Contains(t, log, "/images/hits/cat.jpg", "the log holds the requests the tests made")
	for _, secret := range []string{"sig=", "sv=", "se=", "x-ms-", "X-Ms-", d.keys[0], d.keys[1]} {
		assert.NotContains(t, log, secret, "varnishlog shows %q", strings.TrimRight(secret[:min(len(secret), 6)], "="))
	}
	assert.NotRegexp(t, regexp.MustCompile(`[A-Za-z0-9%+/]{43}(=|%3D)`), log, "something shaped like a signature")
}

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
	assert.Less(t, growth, int64(64<<20), "a node's peak RSS grew by more than 64 MB streaming 1 GiB")
	figures.Report(t, "1 GiB through Varnish and a node in %.1f s; the node's peak RSS grew %.1f MB", elapsed.Seconds(), float64(growth)/1e6)

	// Too big for the cache: a range goes through to a node, and Azure.
	resp, body := d.get(t, http.MethodGet, "/images/huge/1gib.bin", http.Header{"Range": {"bytes=536870912-536870975"}})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "a range of the huge blob")
	assert.Equal(t, patternBytes(536870912, 64), body, "64 bytes from the middle")
	assert.Equal(t, []string{"200", "206"}, d.azureGets("huge/1gib.bin"), "the range reached Azure as a range")
}

func (d *deployment) rollingRotation(t *testing.T) {
	blobs := uploadLoadBlobs(t, d.az, "rotation", 300)
	l := startLoad(t, d.shield.URL, "rotation", blobs)
	for _, n := range d.nodes {
		time.Sleep(700 * time.Millisecond)
		n.SetKey(t, d.keys[1])
		n.Reload(t)
	}
	time.Sleep(700 * time.Millisecond)
	during := l.stop(t)
	assert.Zero(t, during.failed, "requests failed while the nodes moved to key2: %s", during.firstError)
	assert.Positive(t, during.misses, "no request reached a node")
	figures.Report(t, "nodes reloaded one by one from key1 to key2 under load: %d requests (%d misses signed by a node), %d failed",
		during.ok+during.failed, during.misses, during.failed)

	// key1 regenerated: Azurite keeps key2 and gets key3, as Azure does.
	d.az.Restart(t, azurite.Accounts(azurite.Account{Name: sas.DevAccountName, Keys: []string{d.keys[1], d.keys[2]}}))
	old, err := sas.NewSharedKey(sas.DevAccountName, d.keys[0])
	require.NoError(t, err)
	token, err := (&sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: sas.PermRead, Container: "photos",
		Blob: "rotation/0.txt", Expiry: time.Now().Add(time.Hour)}).Sign(old)
	require.NoError(t, err)
	resp, _ := azurite.Fetch(t, http.MethodGet, d.az.BlobURL("photos", "rotation/0.txt")+"?"+token.Encode(), nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "Azurite still takes key1 after it was regenerated")

	l = startLoad(t, d.shield.URL, "regenerated", blobs)
	time.Sleep(2 * time.Second)
	after := l.stop(t)
	assert.Zero(t, after.failed, "requests failed after key1 was regenerated: %s", after.firstError)
	assert.Positive(t, after.misses)
	figures.Report(t, "after key1 was regenerated: %d requests (%d misses), %d failed", after.ok+after.failed, after.misses, after.failed)
}

func (d *deployment) nodeDies(t *testing.T) {
	blobs := uploadLoadBlobs(t, d.az, "death", 300)
	node2 := d.nodes[1]
	// Connections the dead node refused: each such fetch went to
	// vcl_backend_error, which retries it on the next node.
	refused := d.shield.Counter(t, "MAIN.backend_fail")
	l := startLoad(t, d.shield.URL, "death", blobs)
	time.Sleep(time.Second)
	node2.Kill()
	killed := time.Now()
	require.Eventually(t, func() bool { return !d.shield.Healthy("node2") },
		10*time.Second, 100*time.Millisecond, "Varnish did not mark the dead node sick")
	sick := time.Since(killed)
	time.Sleep(time.Second)
	during := l.stop(t)
	assert.Zero(t, during.failed, "requests failed when a node died: %s", during.firstError)
	retried := d.shield.Counter(t, "MAIN.backend_fail") - refused
	assert.Positive(t, retried, "no fetch met the dead node before it was marked sick: the retry was not tried")
	figures.Report(t, "node2 killed under load: marked sick after %.1f s; %d requests (%d misses), %d failed; %d fetches met the dead node and were retried on another",
		sick.Seconds(), during.ok+during.failed, during.misses, during.failed, retried)

	node2.Start(t)
	require.Eventually(t, func() bool { return d.shield.Healthy("node2") },
		10*time.Second, 100*time.Millisecond, "Varnish did not take the node back")
	served := d.shield.BackendCounter(t, "node2", "req")
	l = startLoad(t, d.shield.URL, "back", blobs)
	time.Sleep(time.Second)
	back := l.stop(t)
	assert.Zero(t, back.failed, "requests failed once the node was back: %s", back.firstError)
	assert.Greater(t, d.shield.BackendCounter(t, "node2", "req"), served, "the node that came back takes no traffic")
}

// uploadLoadBlobs uploads n small blobs under dir and returns their bytes
// by name.
func uploadLoadBlobs(t *testing.T, az *azurite.Server, dir string, n int) map[string][]byte {
	blobs := make(map[string][]byte, n)
	for i := range n {
		name := fmt.Sprintf("%s/%d.txt", dir, i)
		blobs[name] = fmt.Appendf(nil, "blob %s, %d", name, i)
		az.Upload(t, "photos", name, blobs[name], "text/plain")
	}
	return blobs
}

// load is clients reading through the shield until stopped: even requests
// read the uploaded blobs in turn (each a miss the first time), odd ones
// a name that exists nowhere (always a miss a node signs for: 404).
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64
	misses atomic.Int64
	first  atomic.Pointer[string]
}

// loadResult is what a load saw.
type loadResult struct {
	ok, failed, misses int64
	firstError         string
}

func startLoad(t *testing.T, shield, tag string, blobs map[string][]byte) *load {
	names := make([]string, 0, len(blobs))
	for name := range blobs {
		names = append(names, name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second}
	var next atomic.Int64
	for range 4 {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				path, want, status := fmt.Sprintf("/images/missing/%s-%d.txt", tag, i), []byte(nil), http.StatusNotFound
				if i%2 == 0 {
					name := names[int(i/2)%len(names)]
					path, want, status = "/images/"+name, blobs[name], http.StatusOK
				}
				l.record(client, shield+path, status, want)
			}
		})
	}
	return l
}

// record makes one request and counts its outcome.
func (l *load) record(client *http.Client, url string, status int, want []byte) {
	fail := func(format string, args ...any) {
		if l.failed.Add(1) == 1 {
			msg := fmt.Sprintf(format, args...)
			l.first.Store(&msg)
		}
	}
	resp, err := client.Get(url)
	if err != nil {
		fail("%s: %v", url, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		fail("%s: %v", url, err)
	case resp.StatusCode != status:
		fail("%s: %d, not %d", url, resp.StatusCode, status)
	case status == http.StatusOK && !bytes.Equal(body, want):
		fail("%s: %d bytes that are not the blob's", url, len(body))
	default:
		l.ok.Add(1)
		if resp.Header.Get("X-Cache") == "miss" {
			l.misses.Add(1)
		}
	}
}

func (l *load) stop(t *testing.T) loadResult {
	l.cancel()
	l.wg.Wait()
	r := loadResult{ok: l.ok.Load(), failed: l.failed.Load(), misses: l.misses.Load()}
	if msg := l.first.Load(); msg != nil {
		r.firstError = *msg
	}
	require.Positive(t, r.ok+r.failed, "the load made no request")
	return r
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
