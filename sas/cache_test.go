package sas

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

func (s *countingSigner) sign(key string) (Query, error) {
	n := s.calls.Add(1)
	return newQuery(key+"#"+strconv.FormatInt(n, 10), s.clock.Now().Add(s.ttl)), nil
}

func newTestCache(t *testing.T, clock *fakeClock, max int, renewBefore time.Duration) *Cache[string] {
	t.Helper()
	c, err := NewCache[string](CacheOptions{MaxEntries: max, RenewBefore: renewBefore, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustGet(t *testing.T, c *Cache[string], key string, sign func(string) (Query, error)) string {
	t.Helper()
	q, err := c.Get(key, sign)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return q.Encode()
}

func TestCacheRenewsAtTheBoundary(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 15*time.Minute)

	first := mustGet(t, c, "a.jpg", s.sign)
	clock.Advance(45*time.Minute - time.Nanosecond)
	if got := mustGet(t, c, "a.jpg", s.sign); got != first {
		t.Fatalf("just before renew_before is left: got %q, want the cached %q", got, first)
	}
	clock.Advance(time.Nanosecond) // exactly renew_before left
	second := mustGet(t, c, "a.jpg", s.sign)
	if second == first {
		t.Fatal("with renew_before left the cached query was served, not renewed")
	}
	if got := mustGet(t, c, "a.jpg", s.sign); got != second {
		t.Fatalf("after renewal: got %q, want the renewed %q", got, second)
	}
	want := CacheStats{Hits: 2, Misses: 1, Renewals: 1, Entries: 1}
	if st := c.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

func TestCacheNeverServesAtOrPastExpiry(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	// No renewal margin: the query is kept until it expires, not a moment more.
	c := newTestCache(t, clock, 10, 0)

	first := mustGet(t, c, "a.jpg", s.sign)
	clock.Advance(time.Hour - time.Nanosecond)
	if got := mustGet(t, c, "a.jpg", s.sign); got != first {
		t.Fatal("a query with time left was not served from the cache")
	}
	clock.Advance(time.Nanosecond)
	if got := mustGet(t, c, "a.jpg", s.sign); got == first {
		t.Fatal("a query was served at its expiry")
	}
	clock.Advance(3 * time.Hour)
	q, err := c.Get("a.jpg", s.sign)
	if err != nil || !q.Expiry().After(clock.Now()) {
		t.Fatalf("long after expiry: got a query expiring %v at %v (err %v)", q.Expiry(), clock.Now(), err)
	}
	if st := c.Stats(); st.Misses != 3 || st.Hits != 1 {
		t.Errorf("stats %+v: want 3 misses (first, at expiry, after) and 1 hit", st)
	}
}

func TestCacheFailedRenewalServesTheValidQuery(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 15*time.Minute)
	first := mustGet(t, c, "a.jpg", s.sign)

	failing := func(string) (Query, error) { return Query{}, errors.New("key vault unreachable") }
	clock.Advance(50 * time.Minute)
	if got := mustGet(t, c, "a.jpg", failing); got != first {
		t.Fatalf("a failed renewal with 10 minutes left gave %q, want the still valid %q", got, first)
	}
	clock.Advance(10 * time.Minute) // now expired
	if _, err := c.Get("a.jpg", failing); err == nil {
		t.Fatal("a failed signing with nothing valid cached returned no error")
	}
	if got := mustGet(t, c, "a.jpg", s.sign); got == first {
		t.Fatal("an expired query was served after a failed renewal")
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	calls := 0
	failing := func(string) (Query, error) { calls++; return Query{}, errors.New("bad name") }
	for range 3 {
		if _, err := c.Get("x", failing); err == nil {
			t.Fatal("no error")
		}
	}
	if calls != 3 || c.Len() != 0 {
		t.Errorf("calls %d, entries %d: a failed first signing must leave nothing behind", calls, c.Len())
	}
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

	if n := c.Len(); n != 3 {
		t.Fatalf("%d entries, want the bound 3", n)
	}
	if got := mustGet(t, c, "a", s.sign); got != a {
		t.Error("a, recently used, was evicted")
	}
	if got := mustGet(t, c, "b", s.sign); got == b {
		t.Error("b, least recently used, was kept")
	}
	if st := c.Stats(); st.Evictions != 2 || st.Entries != 3 {
		// d evicted b; signing b again evicted c.
		t.Errorf("stats %+v: want 2 evictions and 3 entries", st)
	}
	for i := range 1000 {
		mustGet(t, c, fmt.Sprint("k", i), s.sign)
	}
	if n := c.Len(); n != 3 {
		t.Errorf("after 1000 keys: %d entries, want 3", n)
	}
}

func TestCacheInvalidate(t *testing.T) {
	clock := newFakeClock()
	s := &countingSigner{clock: clock, ttl: time.Hour}
	c := newTestCache(t, clock, 10, 0)
	first := mustGet(t, c, "a", s.sign)
	c.Invalidate("a")
	c.Invalidate("never-cached")
	if got := mustGet(t, c, "a", s.sign); got == first {
		t.Fatal("Invalidate did not make the next Get sign afresh")
	}
}

func TestCacheKeepsPolicyQueriesWithoutExpiry(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, time.Minute)
	calls := 0
	policy := func(string) (Query, error) { calls++; return newQuery("si=policy&sig=x", time.Time{}), nil }
	mustGet(t, c, "a", policy)
	clock.Advance(24 * 365 * time.Hour)
	mustGet(t, c, "a", policy)
	if calls != 1 {
		t.Errorf("a query whose expiry a stored policy holds was signed %d times, want 1", calls)
	}
}

func TestCacheFarExpiryDoesNotOverflow(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, time.Minute)
	calls := 0
	far := func(string) (Query, error) {
		calls++
		return newQuery("far", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), nil
	}
	mustGet(t, c, "a", far)
	mustGet(t, c, "a", far)
	if calls != 1 {
		t.Errorf("a query expiring in 9999 was signed %d times for two Gets, want 1", calls)
	}
}

// TestCacheSignsOncePerKeyUnderLoad runs with -race in CI: many goroutines
// asking for the same key while it is signed cause exactly one signing.
func TestCacheSignsOncePerKeyUnderLoad(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	release := make(chan struct{})
	var calls atomic.Int64
	slow := func(key string) (Query, error) {
		calls.Add(1)
		<-release
		return newQuery("token-for-"+key, clock.Now().Add(time.Hour)), nil
	}
	const n = 64
	var wg sync.WaitGroup
	results := make([]string, n)
	started := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			started <- struct{}{}
			q, err := c.Get("hot.jpg", slow)
			if err != nil {
				t.Error(err)
			}
			results[i] = q.Encode()
		})
	}
	for range n {
		<-started
	}
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("%d signings for one key under %d concurrent requests, want 1", got, n)
	}
	for i, r := range results {
		if r != "token-for-hot.jpg" {
			t.Fatalf("goroutine %d got %q", i, r)
		}
	}
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
				if err != nil {
					t.Error(err)
					return
				}
				if !q.Expiry().After(now) {
					t.Errorf("handed out a query expiring %v at %v", q.Expiry(), now)
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
	if n := c.Len(); n > 16 {
		t.Errorf("%d entries, bound 16", n)
	}
	st := c.Stats()
	if st.Hits == 0 || st.Renewals == 0 || st.Evictions == 0 {
		t.Errorf("stats %+v: the load should have hit, renewed and evicted", st)
	}
}

func TestCachePanicInSignReleasesWaiters(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	boom := func(string) (Query, error) {
		close(entered)
		<-release
		panic("signer bug")
	}
	waiterErr := make(chan error)
	go func() {
		defer func() { _ = recover() }()
		_, _ = c.Get("k", boom)
	}()
	<-entered
	waiting := make(chan struct{})
	c.onWait = func() { close(waiting) }
	go func() {
		_, err := c.Get("k", func(string) (Query, error) {
			t.Error("second signing while the first was under way")
			return Query{}, nil
		})
		waiterErr <- err
	}()
	<-waiting
	close(release)
	if err := <-waiterErr; err == nil {
		t.Fatal("a waiter on a signing that panicked got no error")
	}
}

func TestNewCacheRejectsBadOptions(t *testing.T) {
	if _, err := NewCache[string](CacheOptions{MaxEntries: -1}); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := NewCache[string](CacheOptions{RenewBefore: -time.Second}); err == nil {
		t.Error("negative renew_before accepted")
	}
}

func TestCacheCountsWaitersAndRefusesATokenThatExpiredWhileSigning(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, clock, 10, 0)
	stall := func(string) (Query, error) {
		q := newQuery("slow", clock.Now().Add(time.Minute))
		clock.Advance(2 * time.Minute) // the signer stalled past the token's life
		return q, nil
	}
	if _, err := c.Get("k", stall); err == nil {
		t.Fatal("a token that expired during its own signing was returned")
	}

	release := make(chan struct{})
	waiting := make(chan struct{}, 8)
	c.onWait = func() { waiting <- struct{}{} }
	slow := func(string) (Query, error) { <-release; return newQuery("q", clock.Now().Add(time.Hour)), nil }
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.Get("w", slow) })
	for range 3 {
		// Each waiter reports before it blocks; the signer is still held.
		wg.Go(func() { _, _ = c.Get("w", slow) })
	}
	for range 3 {
		<-waiting
	}
	close(release)
	wg.Wait()
	if st := c.Stats(); st.Waits != 3 {
		t.Errorf("stats %+v: want 3 waits", st)
	}
}
