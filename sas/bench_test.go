package sas

import (
	"fmt"
	"net/url"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The token both signers make in the benchmarks: a one-hour read SAS for one
// blob, in the newest layout, the only one the SDK signs. Both give the same
// signature (checked in sdkBenchValues).
const benchBlob = "2024/holiday/IMG_0001.jpg"

var benchExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func benchValues() ServiceValues {
	return ServiceValues{Version: VersionLatest, Permissions: PermRead, Expiry: benchExpiry, Container: "photos", Blob: benchBlob}
}

func sdkBenchValues() azsas.BlobSignatureValues {
	return azsas.BlobSignatureValues{Version: VersionLatest, Permissions: "r", ExpiryTime: benchExpiry, ContainerName: "photos", BlobName: benchBlob}
}

// BenchmarkSignBlobRead compares signing and encoding one blob read SAS with
// this package and with the Azure SDK for Go (SignWithSharedKey + Encode).
func BenchmarkSignBlobRead(b *testing.B) {
	key := devKey(b)
	cred, err := azblob.NewSharedKeyCredential(DevAccountName, DevAccountKey)
	require.NoError(b, err)
	ours, err := benchValues().signed(key)
	require.NoError(b, err)
	theirs, err := sdkBenchValues().SignWithSharedKey(cred)
	require.NoError(b, err)
	q, err := url.ParseQuery(ours)
	require.NoError(b, err)
	require.NotEmpty(b, theirs.Signature())
	require.Equal(b, theirs.Signature(), q.Get("sig"), "the two signers made different tokens")

	// In the loops the assertions run only on failure, so that their own
	// cost (t.Helper takes a lock and walks the stack) is not measured.
	b.Run("sas", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := benchValues()
			q, err := v.Sign(key)
			if err != nil || q.Encode() == "" {
				require.NoError(b, err)
				require.NotEmpty(b, q.Encode(), "an empty token")
			}
		}
	})
	b.Run("azure-sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q, err := sdkBenchValues().SignWithSharedKey(cred)
			if err != nil || q.Encode() == "" {
				require.NoError(b, err)
				require.NotEmpty(b, q.Encode(), "an empty token")
			}
		}
	})
}

func (v ServiceValues) signed(key *SharedKey) (string, error) {
	q, err := v.Sign(key)
	return q.Encode(), err
}

func benchSigner(b testing.TB, maxEntries, maxBytes int) *Signer {
	b.Helper()
	s, err := NewSigner(devKey(b), ServiceValues{Permissions: PermRead, Container: "photos"},
		SignerOptions{TTL: time.Hour, MaxEntries: maxEntries, MaxBytes: maxBytes})
	require.NoError(b, err)
	return s
}

// BenchmarkCacheHit is a request for a blob whose token is cached.
func BenchmarkCacheHit(b *testing.B) {
	s := benchSigner(b, 0, 0)
	_, err := s.Token("photos", benchBlob)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if q, err := s.Token("photos", benchBlob); err != nil || q.IsZero() {
			require.NoError(b, err)
			require.False(b, q.IsZero(), "an empty token")
		}
	}
}

// BenchmarkCacheHitParallel is the same from every core at once, over 1,000
// blobs: the cache's lock is shared by all requests of an origin.
func BenchmarkCacheHitParallel(b *testing.B) {
	s := benchSigner(b, 0, 0)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("2024/holiday/IMG_%04d.jpg", i)
		_, err := s.Token("photos", names[i])
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			// assert, not require: these goroutines may not stop the benchmark.
			if _, err := s.Token("photos", names[i%len(names)]); err != nil {
				assert.NoError(b, err)
				return
			}
			i++
		}
	})
}

// BenchmarkSignerMiss is a request for a blob not yet cached: a signing and
// an insertion (evicting once the cache is full).
func BenchmarkSignerMiss(b *testing.B) {
	s := benchSigner(b, 10_000, 0)
	names := make([]string, 50_000)
	for i := range names {
		names[i] = fmt.Sprintf("2024/holiday/IMG_%06d.jpg", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Token("photos", names[i%len(names)]); err != nil {
			require.NoError(b, err)
		}
		i++
	}
}

// TestAllocations pins the allocation budget docs/performance.md states: a
// signing allocates only the token it returns (one allocation), a cache
// hit nothing. -race and coverage add their own, so ./xcaddy.sh test runs
// it in the step without them, and fails if it does not run there.
func TestAllocations(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled() {
		t.Skip("coverage and race instrumentation allocate on their own")
	}
	key := devKey(t)
	// The assertions in the measured functions run only on failure, so that
	// they allocate nothing that would be counted.
	sign := testing.AllocsPerRun(1000, func() {
		v := benchValues()
		if _, err := v.Sign(key); err != nil {
			require.NoError(t, err)
		}
	})
	assert.Equal(t, 1.0, sign, "signing a blob read SAS: allocations, the token returned alone")
	s := benchSigner(t, 0, 0)
	_, err := s.Token("photos", benchBlob)
	require.NoError(t, err)
	hit := testing.AllocsPerRun(1000, func() {
		if _, err := s.Token("photos", benchBlob); err != nil {
			require.NoError(t, err)
		}
	})
	assert.Zero(t, hit, "cache hit: allocations")
	t.Logf("allocations: sign %.0f, cache hit %.0f", sign, hit)
}

// TestHeapOf100kCachedTokens measures the heap that 100,000 cached blob
// tokens hold, names included: the budget is 40 MB.
func TestHeapOf100kCachedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 100,000-entry cache")
	}
	const n = 100_000
	before := heapInUse()
	s := benchSigner(t, n, 1<<30) // a byte bound that holds them all: this measures the heap, not the bound
	for i := range n {
		_, err := s.Token("photos", fmt.Sprintf("2024/holiday/album-%03d/IMG_%06d.jpg", i%500, i))
		require.NoError(t, err)
	}
	after := heapInUse()
	st := s.Stats()
	require.Equal(t, n, st.Entries, "stats %+v: the heap measured is not that of %d tokens", st, n)
	require.Zero(t, st.Evictions, "stats %+v: the heap measured is not that of %d tokens", st, n)
	used := after - before
	t.Logf("100,000 cached blob tokens: %.1f MB of heap (%d bytes each)", float64(used)/1e6, used/n)
	assert.LessOrEqual(t, used, int64(40e6), "100,000 cached blob tokens hold %.1f MB of heap, want under 40 MB", float64(used)/1e6)
	runtime.KeepAlive(s)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// raceEnabled reports whether the test binary was built with -race, which
// adds allocations of its own.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, setting := range info.Settings {
		if setting.Key == "-race" {
			return setting.Value == "true"
		}
	}
	return false
}
