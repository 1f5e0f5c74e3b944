package sas

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// tokenCacheOptions configures a tokenCache.
type tokenCacheOptions struct {
	// MaxEntries bounds the number of entries; the least recently used entry
	// goes first. Zero means DefaultMaxEntries.
	MaxEntries int

	// MaxBytes bounds the memory the entries hold, counted as the bytes of
	// each key and token plus EntryOverhead; the least recently used entry
	// goes first. Zero means DefaultMaxBytes. A bound in bytes matters
	// because keys are what clients choose: a blob name may be 1024
	// characters of four bytes each.
	MaxBytes int

	// RenewBefore: a cached token with less than this left before its expiry
	// is signed again. Zero means it is kept until it expires.
	RenewBefore time.Duration

	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// Default bounds of a Signer's token cache. With the usual blob names and tokens (an entry
// costs about 400 bytes) DefaultMaxBytes holds some 20,000 tokens; with the
// longest names Azure allows, about 1,800.
const (
	DefaultMaxEntries = 100_000
	DefaultMaxBytes   = 8 << 20
)

// EntryOverhead is what a token cache counts for an entry besides its key's and
// token's bytes: the entry itself and its map slot, measured on amd64.
const EntryOverhead = 176

// CacheStats counts what a Signer's token cache did.
type CacheStats struct {
	Hits      uint64 // served from the cache
	Misses    uint64 // signed because nothing usable was cached
	Renewals  uint64 // signed because the cached one neared its expiry
	Evictions uint64 // dropped to stay within MaxEntries or MaxBytes
	Waits     uint64 // served by another request's signing of the same key
	Entries   int    // held now
	Bytes     int    // held now, as counted against MaxBytes
}

// tokenCache holds signed tokens and hands each out until RenewBefore is left
// before its expiry; it never hands one out at or past its expiry. When many
// goroutines ask for the same key at once, one signs and the others wait
// for its result, or keep using the still valid token it is renewing.
//
// A key must identify everything that is signed apart from the times;
// Signer uses the blob name (and the container and headers it does not
// fix), with everything else fixed per Signer. A token with a
// zero expiry (a stored policy holds it) is kept until evicted or
// invalidated.
type tokenCache struct {
	mu          sync.Mutex
	entries     map[string]*cacheEntry
	newest      *cacheEntry // most recently used; a doubly linked ring
	max         int
	maxBytes    int
	bytes       int // counted as in cost
	renewBefore time.Duration
	clock       func() time.Time // nil: time.Now
	base        time.Time        // entry times count from here
	stats       CacheStats
	onWait      func() // tests: called when a Get starts waiting on another's signing
}

type cacheEntry struct {
	key        string
	token      Token
	cost       int           // as counted in tokenCache.bytes
	renewAt    time.Duration // since base; serve without signing before it
	expiresAt  time.Duration // since base; never serve at or after it
	expires    bool          // false: a stored policy holds the expiry
	prev, next *cacheEntry
	signing    *signing // the signing under way for this key, if any
}

// signing is one call of the sign function that others may wait on.
type signing struct {
	done  chan struct{}
	token Token
	err   error
}

// newTokenCache returns an empty cache.
func newTokenCache(opts tokenCacheOptions) (*tokenCache, error) {
	if opts.MaxEntries < 0 {
		return nil, fmt.Errorf("cache size %d is negative", opts.MaxEntries)
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("cache size %d bytes is negative", opts.MaxBytes)
	}
	if opts.RenewBefore < 0 {
		return nil, fmt.Errorf("renew_before %s is negative", opts.RenewBefore)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	c := &tokenCache{
		entries:     make(map[string]*cacheEntry),
		max:         opts.MaxEntries,
		maxBytes:    opts.MaxBytes,
		renewBefore: opts.RenewBefore,
		clock:       opts.Now,
	}
	c.base = c.now().Round(0) // wall clock only: see elapsed
	return c, nil
}

func (c *tokenCache) now() time.Time {
	if c.clock == nil {
		return time.Now()
	}
	return c.clock()
}

// elapsed is the wall-clock time since base. Azure judges se by the wall
// clock; the monotonic clock stops while a machine or VM is suspended, so a
// cache reading it would serve tokens Azure has already expired.
func (c *tokenCache) elapsed() time.Duration {
	return c.now().Round(0).Sub(c.base)
}

// Get returns the cached token for key, or calls sign to make one. When a
// renewal fails while the cached token is still valid, Get returns that
// token and the next call tries signing again.
func (c *tokenCache) Get(key string, sign func(string) (Token, error)) (Token, error) {
	now := c.elapsed()
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		usable := !e.token.IsZero() && (!e.expires || now < e.expiresAt)
		if usable && now < e.renewAt {
			c.touch(e)
			c.stats.Hits++
			q := e.token
			c.mu.Unlock()
			return q, nil
		}
		if s := e.signing; s != nil {
			if usable {
				// Someone is renewing it; the current one is still valid.
				c.touch(e)
				c.stats.Hits++
				q := e.token
				c.mu.Unlock()
				return q, nil
			}
			c.stats.Waits++
			c.mu.Unlock()
			if c.onWait != nil {
				c.onWait()
			}
			<-s.done
			if exp := s.token.Expiry(); s.err == nil && !exp.IsZero() && !c.now().Before(exp) {
				// The signing outlasted the token (a stalled signer): ask
				// again rather than hand out an expired token.
				return c.Get(key, sign)
			}
			return s.token, s.err
		}
		if usable {
			c.stats.Renewals++
		} else {
			c.stats.Misses++
		}
		c.touch(e)
	} else {
		c.stats.Misses++
		e = &cacheEntry{key: owned(key)}
		e.cost = entryCost(e.key, Token{})
		c.bytes += e.cost
		c.entries[e.key] = e
		c.pushFront(e) // evict makes room once the signing succeeds
	}
	s := &signing{done: make(chan struct{})}
	e.signing = s
	old, oldExpires, oldExpiresAt := e.token, e.expires, e.expiresAt
	c.mu.Unlock()

	c.sign(e, s, sign)
	if s.err != nil && !old.IsZero() && (!oldExpires || c.elapsed() < oldExpiresAt) {
		// A failed renewal keeps the entry; its token is still good, so
		// serve it and let the next Get try signing again.
		return old, nil
	}
	if exp := s.token.Expiry(); s.err == nil && !exp.IsZero() && !c.now().Before(exp) {
		// A stalled signer: the token expired before it was done. It is
		// never served, so it takes no room either.
		c.mu.Lock()
		if c.entries[e.key] == e && e.token == s.token {
			c.remove(e)
		}
		c.mu.Unlock()
		return Token{}, errors.New("signing took longer than the token's lifetime")
	}
	return s.token, s.err
}

// sign runs the sign function for e and publishes its result, even if it
// panics, so no waiter is left blocked.
func (c *tokenCache) sign(e *cacheEntry, s *signing, sign func(string) (Token, error)) {
	defer func() {
		if r := recover(); r != nil {
			s.err = errors.New("signing a SAS panicked")
			c.finish(e, s)
			panic(r)
		}
		c.finish(e, s)
	}()
	s.token, s.err = sign(e.key)
}

func (c *tokenCache) finish(e *cacheEntry, s *signing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.signing = nil
	close(s.done)
	if c.entries[e.key] != e {
		return // evicted or invalidated while it was signed
	}
	if s.err != nil {
		// Keep the entry only while its token is still good.
		if e.token.IsZero() || e.expires && c.elapsed() >= e.expiresAt {
			c.remove(e)
		}
		return
	}
	e.token = s.token
	e.expires, e.renewAt = false, 1<<63-1
	if exp := s.token.Expiry(); !exp.IsZero() {
		e.expires = true
		e.expiresAt = exp.Sub(c.base) // saturates, for a token that expires in 9999
		e.renewAt = e.expiresAt - c.renewBefore
	}
	cost := entryCost(e.key, e.token)
	c.bytes += cost - e.cost
	e.cost = cost
	// Only a signing that succeeded makes room: a client asking for names
	// that fail to sign must not push good tokens out.
	c.evict()
}

// Invalidate drops what is cached for key, so the next Get signs afresh;
// use it when Azure refused the token (a rotated key, a revoked policy).
func (c *tokenCache) Invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		c.remove(e)
	}
}

// InvalidateWhere drops what is cached for every key that match accepts.
// It looks at every entry, so it is for rare events, such as a refusal.
func (c *tokenCache) InvalidateWhere(match func(string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if match(key) {
			c.remove(e)
		}
	}
}

// Stats returns counters since the cache was made.
func (c *tokenCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.entries)
	s.Bytes = c.bytes
	return s
}

// Len returns the number of entries held.
func (c *tokenCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// touch makes e the most recently used entry.
func (c *tokenCache) touch(e *cacheEntry) {
	if c.newest == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

func (c *tokenCache) pushFront(e *cacheEntry) {
	if c.newest == nil {
		e.prev, e.next = e, e
	} else {
		oldest := c.newest.prev
		e.prev, e.next = oldest, c.newest
		oldest.next, c.newest.prev = e, e
	}
	c.newest = e
}

func (c *tokenCache) unlink(e *cacheEntry) {
	if e.next == e {
		c.newest = nil
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
		if c.newest == e {
			c.newest = e.next
		}
	}
	e.prev, e.next = nil, nil
}

func (c *tokenCache) remove(e *cacheEntry) {
	delete(c.entries, e.key)
	c.unlink(e)
	c.bytes -= e.cost
}

// evict drops least recently used entries beyond the bounds, keeping the
// newest. An entry being signed may go too: its waiters still get the
// result through signing. Until a signing succeeds, its entry may take the
// cache past its bounds: by one entry per signing under way.
func (c *tokenCache) evict() {
	for len(c.entries) > 1 && (len(c.entries) > c.max || c.bytes > c.maxBytes) {
		c.remove(c.newest.prev)
		c.stats.Evictions++
	}
}

// entryCost is what an entry counts against MaxBytes.
func entryCost(key string, q Token) int {
	return EntryOverhead + q.token.n + len(key)
}

// owned returns a key copied out of whatever larger string it may be part
// of (a request's path, say), so the cache holds only what it counts.
func owned(key string) string {
	return strings.Clone(key)
}
