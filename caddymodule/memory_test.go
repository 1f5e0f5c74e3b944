// The race detector multiplies the heap (shadow memory) and makes these
// tests ten times slower, so their heap figures would mean nothing: they
// run without it only.

//go:build !race

package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Bounds of the heap tests; their doc comments say where they come from.
const (
	heapWorkers        = 8
	heapFixedAllowance = 10e6 // what does not grow with the caches
	heapRunTimeout     = 10 * time.Minute
	mb                 = 1e6
)

// TestHeapStaysBoundedOver1MDistinctBlobs sends 1,000,000 GETs for distinct
// blob names through Caddy (the azure_blob directive: its handler,
// reverse_proxy and the azure_blob transport, which signs and caches one
// token per blob) to a fast local upstream, from 8 keep-alive clients, and
// checks that the heap is bounded by the token cache's memory
// (sas.DefaultMaxBytes, 8 MiB: about 25,000 of these tokens), not by the
// number of names seen.
//
//   - Live heap growth, after the run and two GCs, over the live heap before
//     it: under DefaultMaxBytes + 10 MB = 18.4 MB. The cache counts each
//     entry's key, query and overhead (sas.EntryOverhead, measured), so its
//     bytes are the heap it holds. The 10 MB is for what does not grow with
//     the cache: the keep-alive connections of the client, Caddy and the
//     upstream with their buffers, state Caddy and the runtime set up on
//     first use, allocator fragmentation (about 4 MB measured). The test's
//     own bitset (125 kB) is made before the baseline.
//   - Peak heap (live objects and those not yet swept, sampled every
//     100 ms): under 200 MB. With GOGC=100 the heap may reach twice the live
//     heap before a collection, and the workers allocate while the
//     collector marks.
//
// A cache that grew with the names would hold about 300 MB after a million
// and fail both.
func TestHeapStaysBoundedOver1MDistinctBlobs(t *testing.T) {
	if testing.Short() {
		t.Skip("a million requests take a minute or two; ./xcaddy.sh test runs them")
	}
	const requests = 1_000_000
	// The upstream marks each blob number it is asked for in a bitset, so
	// the test's own bookkeeping is 125 kB and allocated before the
	// baseline. (internal/azurestub would record every request: a million
	// records on the heap this test bounds.)
	seen := make([]atomic.Uint64, (requests+63)/64)
	var unsigned, badPath, repeated atomic.Int64
	body := []byte("JPEGDATA")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("sig") == "" {
			unsigned.Add(1)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		n, ok := blobNumber(r.URL.Path, requests)
		if !ok {
			badPath.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		bit := uint64(1) << (n % 64)
		if seen[n/64].Or(bit)&bit != 0 {
			repeated.Add(1)
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	t.Cleanup(upstream.Close)

	got := heapLoad{
		requests: requests,
		site: fmt.Sprintf(`azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
	}`, upstream.URL),
		path:   func(i int) string { return fmt.Sprintf("/img/%07d.jpg", i) },
		status: http.StatusOK, size: len(body),
		warmedUp: func() { seen[0].Store(0) },
	}.run(t)

	distinct := 0
	for i := range seen {
		distinct += bits.OnesCount64(seen[i].Load())
	}
	growthBound := int64(sas.DefaultMaxBytes + heapFixedAllowance)
	const peakBound = 200e6
	figure(t, "%d requests (%d distinct at the upstream), %d failed, in %s: %.0f requests/s",
		got.done, distinct, got.failures, got.elapsed.Round(time.Millisecond), got.rate())
	figure(t, "heap: %s (growth bound %.1f MB: %d MiB of cache + %.0f MB; peak bound %.0f MB)",
		got, float64(growthBound)/mb, sas.DefaultMaxBytes>>20, heapFixedAllowance/mb, peakBound/mb)

	assert.Zero(t, got.failures, "requests failed; the first: %s", got.firstError)
	assert.Zero(t, unsigned.Load(), "upstream: requests without sig")
	assert.Zero(t, badPath.Load(), "upstream: requests with a wrong path")
	assert.Zero(t, repeated.Load(), "upstream: requests repeated")
	assert.Equal(t, requests, distinct, "distinct blobs the upstream saw")
	assert.LessOrEqual(t, got.growth(), growthBound, "live heap growth over the run, in bytes")
	assert.LessOrEqual(t, got.peak, uint64(peakBound), "peak heap, in bytes")
}

// blobNumber is n of the upstream path /devstoreaccount1/photos/img/<n>.jpg.
func blobNumber(path string, below int) (int, bool) {
	s, ok := strings.CutPrefix(path, "/devstoreaccount1/photos/img/")
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, ".jpg"); !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n < below
}

// TestHeapStaysBoundedOver100kLongBlobNames sends GETs for 100,000 distinct
// names of 4-byte characters, each its own blob, through the azure_blob
// directive with a fallback origin and an index, to an upstream that has
// none of them (404), so every request walks the whole chain: the origin,
// the fallback, then the index probe of each. Half the names are 1,024
// characters, Azure's limit: the origin and the fallback sign them, and the
// probes answer 404 without signing (name + "/index.html" is too long to
// exist). The other half are 1,013 characters, so that the probes sign
// names of 1,024 characters. A cache bounded by entries held one ~4 kB
// name per entry, about 0.4 GB per origin at 100,000 names; bounded in
// bytes, each of the four caches (origin, fallback, and a probe for each)
// holds at most sas.DefaultMaxBytes.
//
// Budget: live heap growth under 4 x 8 MiB + 10 MB = 43.6 MB; peak under
// 150 MB (each request's path is 12 kB escaped, and passes four
// reverse_proxy hops).
func TestHeapStaysBoundedOver100kLongBlobNames(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 long names take a minute or more; ./xcaddy.sh test runs them")
	}
	const requests, caches = 100_000, 4
	// The upstream only counts: internal/azurestub would record each request
	// on the heap this test bounds.
	var signed, unsigned atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sig") == "" {
			unsigned.Add(1)
		} else {
			signed.Add(1)
		}
		w.Header().Set("x-ms-error-code", "BlobNotFound")
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(upstream.Close)

	var warmSigned int64
	got := heapLoad{
		requests: requests,
		site: fmt.Sprintf(`azure_blob {
		endpoint %s/devstoreaccount1
		container photos
		account_key {env.AZ_TEST_KEY}
		index index.html
		fallback {
			container archive
		}
	}`, upstream.URL),
		path:   longBlobName,
		status: http.StatusNotFound, size: -1,
		warmedUp: func() { warmSigned = signed.Load() },
	}.run(t)

	growthBound := int64(caches*sas.DefaultMaxBytes + heapFixedAllowance)
	const peakBound = 150e6
	figure(t, "%d requests for distinct 1,013- and 1,024-character names of 4-byte characters, %d failed, in %s: %.0f requests/s; %d signed reads at the upstream",
		got.done, got.failures, got.elapsed.Round(time.Millisecond), got.rate(), signed.Load()-warmSigned)
	figure(t, "heap: %s (growth budget %.1f MB: %d caches x %d MiB + %.0f MB; peak budget %.0f MB)",
		got, float64(growthBound)/mb, caches, sas.DefaultMaxBytes>>20, heapFixedAllowance/mb, peakBound/mb)

	assert.Zero(t, got.failures, "requests that did not get 404; the first: %s", got.firstError)
	assert.Zero(t, unsigned.Load(), "requests reached the upstream without a token")
	// Each 1,024-character name reaches the upstream from the origin and
	// the fallback, each 1,013-character one from those and both probes.
	assert.Equal(t, int64(requests/2*2+requests/2*4), signed.Load()-warmSigned, "signed requests at the upstream")
	assert.LessOrEqual(t, got.growth(), growthBound, "live heap growth over the run, in bytes")
	assert.LessOrEqual(t, got.peak, uint64(peakBound), "peak heap, in bytes")
}

// longBlobName is the escaped path of the i-th long name: 1,024 characters
// for even i, 1,013 for odd, all of 4 bytes (U+1F600 and up), the first six
// spelling i in base 16 so that every name is distinct.
func longBlobName(i int) string {
	length := 1024
	if i%2 == 1 {
		length = 1013
	}
	var b strings.Builder
	b.WriteByte('/')
	for d := 5; d >= 0; d-- {
		b.WriteRune(rune(0x1F600 + (i>>(4*d))&15))
	}
	b.WriteString(strings.Repeat("\U0001F4A9", length-6))
	return (&url.URL{Path: b.String()}).EscapedPath()
}

// heapLoad is a run of distinct GETs through a Caddy in this process, with
// the heap measured before, during and after.
type heapLoad struct {
	requests int
	site     string             // the site block's directive, on http://127.0.0.1:<port>
	path     func(i int) string // the escaped path of the i-th request
	status   int                // each answer's status
	size     int                // and body length, or -1 for any
	warmedUp func()             // called after a request for path(0), before the baseline
}

// heapFigures is what a heapLoad measured.
type heapFigures struct {
	done, failures       int64
	firstError           string
	elapsed              time.Duration
	baseline, peak, live uint64
}

func (f heapFigures) rate() float64 { return float64(f.done) / f.elapsed.Seconds() }
func (f heapFigures) growth() int64 { return int64(f.live) - int64(f.baseline) }

func (f heapFigures) String() string {
	return fmt.Sprintf("baseline %.1f MB, peak %.1f MB, live after GC %.1f MB, growth %.1f MB",
		float64(f.baseline)/mb, float64(f.peak)/mb, float64(f.live)/mb, float64(f.growth())/mb)
}

// run starts Caddy, warms it up with path(0), then sends path(0) …
// path(requests-1) from heapWorkers keep-alive clients. It fails the test
// if the run outlasts runTimeout.
func (l heapLoad) run(t *testing.T) heapFigures {
	t.Helper()
	port := freePort(t)
	runCaddyInProcess(t, fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %q
	log {
		level ERROR
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	%s
}
`, t.TempDir(), port, l.site))
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        heapWorkers,
		MaxIdleConnsPerHost: heapWorkers,
		DisableCompression:  true,
	}}
	t.Cleanup(client.CloseIdleConnections)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Caddy is up and proxying before the baseline is taken.
	require.NoError(t, l.get(t.Context(), client, base+l.path(0)), "warm-up")
	l.warmedUp()

	var f heapFigures
	f.baseline = liveHeap()
	sampler := startHeapSampler()
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout(t))
	defer cancel()
	var next, done, failures atomic.Int64
	var firstErr sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range heapWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(l.requests) {
					return
				}
				if err := l.get(ctx, client, base+l.path(int(i))); err != nil {
					failures.Add(1)
					firstErr.Do(func() { f.firstError = err.Error() })
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	f.elapsed = time.Since(start)
	f.peak = sampler.stop()
	f.done, f.failures = done.Load(), failures.Load()
	require.NoError(t, ctx.Err(), "%d of %d requests done before the %s deadline", f.done, l.requests, runTimeout(t))
	client.CloseIdleConnections()
	f.live = liveHeap()
	return f
}

// get GETs url and checks the answer's status and size.
func (l heapLoad) get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("reading the body: %v", err)
	case resp.StatusCode != l.status || l.size >= 0 && n != int64(l.size):
		return fmt.Errorf("%d, %d bytes; want %d", resp.StatusCode, n, l.status)
	}
	return nil
}

// runTimeout is how long the load may take: heapRunTimeout, or less if go
// test's own deadline comes first, so the test fails with its figures
// instead of a panic.
func runTimeout(t *testing.T) time.Duration {
	d := heapRunTimeout
	if deadline, ok := t.Deadline(); ok {
		d = min(d, time.Until(deadline)-30*time.Second)
	}
	return d
}

// liveHeap is the heap that live objects hold, after two collections (the
// second frees what the first's finalizers and sync.Pool victims kept).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapSampler records the largest heap, live objects and those not yet
// swept, seen every 100 ms.
type heapSampler struct {
	quit chan struct{}
	peak chan uint64
}

func startHeapSampler() *heapSampler {
	s := &heapSampler{quit: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		read := func() {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-tick.C:
			case <-s.quit:
				read()
				s.peak <- peak
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak.
func (s *heapSampler) stop() uint64 {
	close(s.quit)
	return <-s.peak
}
