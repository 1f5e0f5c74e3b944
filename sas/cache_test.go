package sas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingSigner makes distinct queries that expire ttl after the clock's
// now, and counts its calls.
type countingSigner struct {
	clock *fakeClock
	ttl   time.Duration
	calls atomic.Int64
}

func (s *countingSigner) sign(key string) (Token, error) {
	n := s.calls.Add(1)
	return newToken(key+"#"+strconv.FormatInt(n, 10), s.clock.Now().Add(s.ttl)), nil
}

func newTestCache(t *testing.T, clock *fakeClock, max int, renewBefore time.Duration) *tokenCache {
	t.Helper()
	c, err := newTokenCache(tokenCacheOptions{MaxEntries: max, RenewBefore: renewBefore, Now: clock.Now})
	require.NoError(t, err)
	return c
}

func mustGet(t *testing.T, c *tokenCache, key string, sign func(string) (Token, error)) string {
	t.Helper()
	q, err := c.Get(key, sign)
	require.NoError(t, err, "Get(%q)", key)
	return q.Encode()
}

// cacheCounters is what the tests pin of CacheStats: what the cache did and
// how many entries it holds.
type cacheCounters struct {
	Hits, Misses, Renewals, Evictions, Waits uint64
	Entries                                  int
}

func countersOf(s CacheStats) cacheCounters {
	return cacheCounters{Hits: s.Hits, Misses: s.Misses, Renewals: s.Renewals, Evictions: s.Evictions, Waits: s.Waits, Entries: s.Entries}
}

func TestCacheRenewsAtTheBoundary(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 15*time.Minute)

	first := mustGet(t, c, "a.jpg", s.sign)
	clock.Advance(45*time.Minute - time.Nanosecond)
	assert.Equal(t, first, mustGet(t, c, "a.jpg", s.sign), "just before renew_before is left: want the cached query")
	clock.Advance(time.Nanosecond) // exactly renew_before left
	second := mustGet(t, c, "a.jpg", s.sign)
	assert.Equal(t, "a.jpg#2", second, "with renew_before left the cached query was served, not renewed")
	assert.Equal(t, second, mustGet(t, c, "a.jpg", s.sign), "after renewal: want the renewed query")
	assert.Equal(t, cacheCounters{Hits: 2, Misses: 1, Renewals: 1, Entries: 1}, countersOf(c.Stats()))
}

func TestCacheNeverServesAtOrPastExpiry(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	// No renewal margin: the query is kept until it expires, not a moment more.
	c := newTestCache(t, clock, 10, 0)

	first := mustGet(t, c, "a.jpg", s.sign)
	clock.Advance(time.Hour - time.Nanosecond)
	assert.Equal(t, first, mustGet(t, c, "a.jpg", s.sign), "a query with time left was not served from the cache")
	clock.Advance(time.Nanosecond)
	assert.Equal(t, "a.jpg#2", mustGet(t, c, "a.jpg", s.sign), "a query was served at its expiry")
	clock.Advance(3 * time.Hour)
	q, err := c.Get("a.jpg", s.sign)
	require.NoError(t, err, "long after expiry")
	assert.Equal(t, "a.jpg#3", q.Encode(), "long after expiry: not signed afresh")
	assert.Equal(t, clock.Now().Add(time.Hour), q.Expiry(), "long after expiry: the query handed out is not the fresh one")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 3, Entries: 1}, countersOf(c.Stats()), "want 3 misses (first, at expiry, after) and 1 hit")
}

func TestCacheFailedRenewalServesTheValidQuery(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 15*time.Minute)
	first := mustGet(t, c, "a.jpg", s.sign)

	errVault := errors.New("key vault unreachable")
	failures := 0
	failing := func(string) (Token, error) { failures++; return Token{}, errVault }
	clock.Advance(50 * time.Minute)
	assert.Equal(t, first, mustGet(t, c, "a.jpg", failing), "a failed renewal with 10 minutes left: want the still valid query")
	// The failure is not remembered: the next Get tries signing again.
	assert.Equal(t, first, mustGet(t, c, "a.jpg", failing), "a second failed renewal with 10 minutes left: want the still valid query")
	assert.Equal(t, 2, failures, "each Get in the renewal window tries signing again")

	clock.Advance(10 * time.Minute) // now expired
	q, err := c.Get("a.jpg", failing)
	assert.ErrorIs(t, err, errVault, "a failed signing with nothing valid cached must return the signer's error")
	assert.Zero(t, q, "a failed signing with nothing valid cached returned a query")
	assert.Equal(t, 3, failures)

	assert.Equal(t, "a.jpg#2", mustGet(t, c, "a.jpg", s.sign), "an expired query was served after a failed renewal")
	assert.Equal(t, "a.jpg#2", mustGet(t, c, "a.jpg", s.sign), "the query signed after the failures is not cached")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 3, Renewals: 2, Entries: 1}, countersOf(c.Stats()))
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	errBadName := errors.New("bad name")
	calls := 0
	failing := func(string) (Token, error) { calls++; return Token{}, errBadName }
	for i := range 3 {
		q, err := c.Get("x", failing)
		assert.ErrorIs(t, err, errBadName, "Get %d: want the signer's error", i)
		assert.Zero(t, q, "Get %d returned a query with its error", i)
	}
	assert.Equal(t, 3, calls, "a failed signing was remembered: each Get must sign again")
	assert.Zero(t, c.Len(), "a failed first signing must leave nothing behind")
	assert.Equal(t, cacheCounters{Misses: 3}, countersOf(c.Stats()))

	// A later Get that signs well is cached as usual.
	s := &countingSigner{clock: clock, ttl: time.Hour}
	assert.Equal(t, "x#1", mustGet(t, c, "x", s.sign))
	assert.Equal(t, "x#1", mustGet(t, c, "x", s.sign), "the good query after the failures is not cached")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 4, Entries: 1}, countersOf(c.Stats()))
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 3, 0)
	a := mustGet(t, c, "a", s.sign)
	b := mustGet(t, c, "b", s.sign)
	mustGet(t, c, "c", s.sign)
	mustGet(t, c, "a", s.sign) // a is now the most recently used; b the least
	mustGet(t, c, "d", s.sign) // evicts b

	assert.Equal(t, 3, c.Len(), "want the bound 3")
	assert.Equal(t, a, mustGet(t, c, "a", s.sign), "a, recently used, was evicted")
	assert.NotEqual(t, b, mustGet(t, c, "b", s.sign), "b, least recently used, was kept")
	// d evicted b; signing b again evicted c.
	assert.Equal(t, cacheCounters{Hits: 2, Misses: 5, Evictions: 2, Entries: 3}, countersOf(c.Stats()))
	for i := range 1000 {
		mustGet(t, c, fmt.Sprint("k", i), s.sign)
	}
	assert.Equal(t, 3, c.Len(), "after 1000 keys")
}

func TestCacheInvalidate(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 0)
	assert.Equal(t, "a#1", mustGet(t, c, "a", s.sign))
	c.Invalidate("a")
	c.Invalidate("never-cached")
	assert.Zero(t, c.Len(), "Invalidate kept the entry")
	assert.Equal(t, "a#2", mustGet(t, c, "a", s.sign), "Invalidate did not make the next Get sign afresh")
	assert.Equal(t, cacheCounters{Misses: 2, Entries: 1}, countersOf(c.Stats()))
}

func TestCacheKeepsPolicyQueriesWithoutExpiry(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, time.Minute)
	calls := 0
	policy := func(string) (Token, error) { calls++; return newToken("si=policy&sig=x", time.Time{}), nil }
	mustGet(t, c, "a", policy)
	clock.Advance(24 * 365 * time.Hour)
	assert.Equal(t, "si=policy&sig=x", mustGet(t, c, "a", policy))
	assert.Equal(t, 1, calls, "a query whose expiry a stored policy holds was signed again")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 1, Entries: 1}, countersOf(c.Stats()))
}

func TestCacheFarExpiryDoesNotOverflow(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, time.Minute)
	calls := 0
	far := func(string) (Token, error) {
		calls++
		return newToken("far", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), nil
	}
	mustGet(t, c, "a", far)
	mustGet(t, c, "a", far)
	assert.Equal(t, 1, calls, "a query expiring in 9999 was signed again for the second Get")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 1, Entries: 1}, countersOf(c.Stats()))
}

// TestCacheSignsOncePerKeyUnderLoad runs with -race in CI: many goroutines
// asking for the same key while it is signed cause exactly one signing.
func TestCacheSignsOncePerKeyUnderLoad(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	release := make(chan struct{})
	var calls atomic.Int64
	slow := func(key string) (Token, error) {
		calls.Add(1)
		<-release
		return newToken("token-for-"+key, clock.Now().Add(time.Hour)), nil
	}
	const n = 64
	var wg sync.WaitGroup
	results := make([]string, n)
	started := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			started <- struct{}{}
			q, err := c.Get("hot.jpg", slow)
			assert.NoError(t, err, "goroutine %d", i)
			results[i] = q.Encode()
		})
	}
	for range n {
		<-started
	}
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "signings for one key under %d concurrent requests", n)
	want := make([]string, n)
	for i := range want {
		want[i] = "token-for-hot.jpg"
	}
	assert.Equal(t, want, results)
	// One signed; the others waited for it, or came after and hit.
	st := countersOf(c.Stats())
	assert.Equal(t, uint64(1), st.Misses, "misses")
	assert.Equal(t, uint64(n-1), st.Waits+st.Hits, "waits and hits (stats %+v)", st)
}

// TestCacheConcurrentMixedUse hammers a small cache with many keys while the
// clock moves: every query handed out must be unexpired, the bound must
// hold, and -race must stay quiet.
func TestCacheConcurrentMixedUse(t *testing.T) {
	clock := newFakeClock()
	// The clock moves about 50 minutes in all, far more than any one signing
	// sees: tokens renew and expire during the run.
	s := &countingSigner{clock: clock, ttl: 30 * time.Minute}
	c := newTestCache(t, clock, 16, 10*time.Minute)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				// Half the traffic on 4 hot keys, the rest over 16 more: the
				// hot ones stay cached and renew, the tail forces eviction.
				key := strconv.Itoa(i % 4)
				if i%2 == 1 {
					key = strconv.Itoa(4 + (g*13+i*7)%16)
				}
				now := clock.Now()
				q, err := c.Get(key, s.sign)
				if !assert.NoError(t, err) {
					return
				}
				if !assert.Truef(t, q.Expiry().After(now), "handed out a query expiring %v at %v", q.Expiry(), now) {
					return
				}
				switch i % 100 {
				case 0:
					clock.Advance(20 * time.Second)
				case 50:
					c.Invalidate(key)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 16, "entries beyond the bound")
	st := c.Stats()
	assert.NotZero(t, st.Hits, "the load should have hit (stats %+v)", st)
	assert.NotZero(t, st.Renewals, "the load should have renewed (stats %+v)", st)
	assert.NotZero(t, st.Evictions, "the load should have evicted (stats %+v)", st)
}

func TestCachePanicInSignReleasesWaiters(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	boom := func(string) (Token, error) {
		close(entered)
		<-release
		panic("signer bug")
	}
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_, err := c.Get("k", boom)
		assert.Fail(t, "Get returned from a signing that panicked", "error: %v", err)
	}()
	<-entered
	waiting := make(chan struct{})
	c.onWait = func() { close(waiting) }
	waiterErr := make(chan error)
	go func() {
		_, err := c.Get("k", func(string) (Token, error) {
			assert.Fail(t, "second signing while the first was under way")
			return Token{}, nil
		})
		waiterErr <- err
	}()
	<-waiting
	close(release)
	assert.EqualError(t, <-waiterErr, "signing a SAS panicked", "a waiter on a signing that panicked")
	assert.Equal(t, "signer bug", <-panicked, "the signer's panic must reach the caller that signed")

	assert.Zero(t, c.Len(), "a signing that panicked left an entry")
	assert.Equal(t, cacheCounters{Misses: 1, Waits: 1}, countersOf(c.Stats()))
	s := &countingSigner{clock: clock, ttl: time.Hour}
	assert.Equal(t, "k#1", mustGet(t, c, "k", s.sign), "after the panic the next Get must sign again")
}

func TestNewCacheRejectsBadOptions(t *testing.T) {
	c, err := newTokenCache(tokenCacheOptions{MaxEntries: -1})
	assert.EqualError(t, err, "cache size -1 is negative")
	assert.Nil(t, c, "negative size")
	c, err = newTokenCache(tokenCacheOptions{RenewBefore: -time.Second})
	assert.EqualError(t, err, "renew_before -1s is negative")
	assert.Nil(t, c, "negative renew_before")
}

func TestCacheCountsWaitersAndRefusesATokenThatExpiredWhileSigning(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	stall := func(string) (Token, error) {
		q := newToken("slow", clock.Now().Add(time.Minute))
		clock.Advance(2 * time.Minute) // the signer stalled past the token's life
		return q, nil
	}
	q, err := c.Get("k", stall)
	assert.EqualError(t, err, "signing took longer than the token's lifetime")
	assert.Zero(t, q, "a token that expired during its own signing was returned")
	// Nor is it served later: the next Get signs again.
	s := &countingSigner{clock: clock, ttl: time.Hour}
	assert.Equal(t, "k#1", mustGet(t, c, "k", s.sign), "the token that expired while signing was served from the cache")

	release := make(chan struct{})
	waiting := make(chan struct{}, 8)
	c.onWait = func() { waiting <- struct{}{} }
	slow := func(string) (Token, error) { <-release; return newToken("q", clock.Now().Add(time.Hour)), nil }
	var wg sync.WaitGroup
	get := func() {
		q, err := c.Get("w", slow)
		assert.NoError(t, err)
		assert.Equal(t, "q", q.Encode())
	}
	wg.Go(get)
	for range 3 {
		// Each waiter reports before it blocks; the signer is still held.
		wg.Go(get)
	}
	for range 3 {
		<-waiting
	}
	close(release)
	wg.Wait()
	assert.Equal(t, cacheCounters{Misses: 3, Waits: 3, Entries: 2}, countersOf(c.Stats()), "want 3 waits")
}

// TestCacheBoundsTheBytesItHolds: a client chooses the keys (blob names of up
// to 1,024 four-byte characters), so the cache is bounded in bytes, not only
// in entries: long keys mean fewer entries, never more memory.
func TestCacheBoundsTheBytesItHolds(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	const maxBytes = 64 << 10
	c, err := newTokenCache(tokenCacheOptions{MaxBytes: maxBytes, Now: clock.Now})
	require.NoError(t, err)
	long := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("\U0001F4A9", 1020) } // 4,084 bytes
	for i := range 100 {
		mustGet(t, c, long(i), s.sign)
		assert.LessOrEqual(t, c.Stats().Bytes, maxBytes, "after %d long keys", i+1)
	}
	st := c.Stats()
	perEntry := EntryOverhead + len(long(0)) + len(long(0)+"#100")
	assert.Equal(t, maxBytes/perEntry, st.Entries, "entries held: as many as fit")
	assert.Equal(t, uint64(100-st.Entries), st.Evictions)
	want := 0
	for i := 100 - st.Entries; i < 100; i++ {
		want += EntryOverhead + len(long(i)) + len(long(i)+"#"+strconv.Itoa(i+1))
	}
	assert.Equal(t, want, st.Bytes, "bytes counted: key, query and overhead per entry")
	// The newest are kept, the oldest went.
	assert.Equal(t, long(99)+"#100", mustGet(t, c, long(99), s.sign))
	assert.Equal(t, long(0)+"#101", mustGet(t, c, long(0), s.sign), "the oldest key was still cached")

	// Short keys: the entry bound is what holds.
	c, err = newTokenCache(tokenCacheOptions{MaxEntries: 5, MaxBytes: maxBytes, Now: clock.Now})
	require.NoError(t, err)
	for i := range 20 {
		mustGet(t, c, strconv.Itoa(i), s.sign)
	}
	assert.Equal(t, 5, c.Stats().Entries)

	_, err = newTokenCache(tokenCacheOptions{MaxBytes: -1})
	assert.EqualError(t, err, "cache size -1 bytes is negative")
}

// TestCacheDefaultBoundHoldsTheLongestNames: with the defaults, 100,000
// names of 1,024 four-byte characters stay under DefaultMaxBytes, which is
// the 8 MiB the docs give (docs/security.md, docs/testing.md): the heap
// bounds of the Caddy module's tests scale with it, so it is pinned here.
func TestCacheDefaultBoundHoldsTheLongestNames(t *testing.T) {
	require.Equal(t, 8<<20, DefaultMaxBytes, "the token cache's default bound, as the docs give it")
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c, err := newTokenCache(tokenCacheOptions{Now: clock.Now})
	require.NoError(t, err)
	tail := strings.Repeat("\U0001F4A9", 1016)
	for i := range 100_000 {
		_, err := c.Get(fmt.Sprintf("%08d", i)+tail, s.sign)
		require.NoError(t, err)
	}
	st := c.Stats()
	assert.LessOrEqual(t, st.Bytes, DefaultMaxBytes)
	assert.Greater(t, st.Bytes, DefaultMaxBytes-10<<10, "the cache fills up to its bound")
	assert.Equal(t, uint64(100_000-st.Entries), st.Evictions)
}

// TestCacheFailedSigningEvictsNothing: a request whose signing fails (a blob
// name the signer refuses, say) must not push a good token out.
func TestCacheFailedSigningEvictsNothing(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 2, 0)
	mustGet(t, c, "a", s.sign)
	mustGet(t, c, "b", s.sign)
	refuse := errors.New("refused")
	for range 5 {
		_, err := c.Get("bad", func(string) (Token, error) { return Token{}, refuse })
		require.ErrorIs(t, err, refuse)
	}
	assert.Equal(t, "a#1", mustGet(t, c, "a", s.sign), "a was evicted by failed signings")
	assert.Equal(t, "b#2", mustGet(t, c, "b", s.sign), "b was evicted by failed signings")
	assert.Equal(t, cacheCounters{Hits: 2, Misses: 7, Entries: 2}, countersOf(c.Stats()))
}

// TestCacheDropsWhatCanNoLongerServe: a signing that outlasted its token's
// life, or a failed renewal of an expired one, leaves no entry behind.
func TestCacheDropsWhatCanNoLongerServe(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	_, err := c.Get("stalled", func(string) (Token, error) {
		q := newToken("slow", clock.Now().Add(time.Minute))
		clock.Advance(2 * time.Minute)
		return q, nil
	})
	require.EqualError(t, err, "signing took longer than the token's lifetime")
	assert.Zero(t, c.Stats().Entries, "an expired query was kept")
	assert.Zero(t, c.Stats().Bytes)

	s := &countingSigner{clock: clock, ttl: time.Minute}
	mustGet(t, c, "k", s.sign)
	clock.Advance(2 * time.Minute)
	refuse := errors.New("refused")
	_, err = c.Get("k", func(string) (Token, error) { return Token{}, refuse })
	require.ErrorIs(t, err, refuse)
	assert.Zero(t, c.Stats().Entries, "the expired entry outlived its failed renewal")
	assert.Zero(t, c.Stats().Bytes)
}
