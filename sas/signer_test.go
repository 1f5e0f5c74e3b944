package sas

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func devKey(t testing.TB) *SharedKey {
	t.Helper()
	k, err := NewSharedKey(DevAccountName, DevAccountKey)
	require.NoError(t, err)
	return k
}

func newTestSigner(t *testing.T, clock *fakeClock, v ServiceValues, opts SignerOptions) *Signer {
	t.Helper()
	opts.Now = clock.Now
	s, err := NewSigner(devKey(t), v, opts)
	require.NoError(t, err)
	return s
}

func queryParams(t *testing.T, q Token) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q.Encode())
	require.NoError(t, err)
	return v
}

// parseToken reads q back with the package's own Parse.
func parseToken(t *testing.T, q Token) *ParsedToken {
	t.Helper()
	tok, err := Parse(q.Encode())
	require.NoError(t, err)
	return tok
}

// assertSameGrant asserts that b grants what a grants: the same sv, sr and
// sp. What may differ (times, signature) each test checks itself.
func assertSameGrant(t *testing.T, a, b *ParsedToken) {
	t.Helper()
	assert.Equal(t, a.Kind, b.Kind, "kind")
	assert.Equal(t, a.Version, b.Version, "sv")
	assert.Equal(t, a.Resource, b.Resource, "sr")
	assert.Equal(t, a.PermissionString(), b.PermissionString(), "sp")
}

// assertVerifies asserts that tok is signed for container/blob (blob "" for
// a container token) with the development key.
func assertVerifies(t *testing.T, tok *ParsedToken, container, blob string) {
	t.Helper()
	assert.NoError(t, tok.VerifyService(devKey(t), container, blob, ""), "the token does not verify for %s/%s", container, blob)
}

// assertDoesNotVerify asserts that tok is refused for container/blob.
func assertDoesNotVerify(t *testing.T, tok *ParsedToken, container, blob string) {
	t.Helper()
	assert.ErrorContains(t, tok.VerifyService(devKey(t), container, blob, ""), "SAS signature does not match",
		"the token also verifies for %s/%s", container, blob)
}

func TestSignerBlobScopeSignsEachBlob(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})

	a, err := s.Token("photos", "2024/a b+c.jpg")
	require.NoError(t, err)
	b, err := s.Token("photos", "2024/other.jpg")
	require.NoError(t, err)
	pa, pb := queryParams(t, a), queryParams(t, b)
	require.NotEmpty(t, pa.Get("sig"))
	require.NotEmpty(t, pb.Get("sig"))
	assert.NotEqual(t, pa.Get("sig"), pb.Get("sig"), "two blobs got the same signature in blob scope")
	// Everything but the signature is the same: no st (valid at once), se an
	// hour after the clock.
	want := url.Values{"sv": {DefaultVersion}, "sp": {"r"}, "se": {"2026-03-04T06:06:07Z"}, "sr": {"b"}, "sig": pa["sig"]}
	assert.Equal(t, want, pa, "first blob's token")
	want["sig"] = pb["sig"]
	assert.Equal(t, want, pb, "second blob's token")

	ta, tb := parseToken(t, a), parseToken(t, b)
	assertVerifies(t, ta, "photos", "2024/a b+c.jpg")
	assertDoesNotVerify(t, ta, "photos", "2024/other.jpg")
	assertVerifies(t, tb, "photos", "2024/other.jpg")
	assertDoesNotVerify(t, tb, "photos", "2024/a b+c.jpg")
	assert.Equal(t, cacheCounters{Misses: 2, Entries: 2}, countersOf(s.Stats()))
}

func TestSignerContainerScopeSharesOneToken(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Resource: ResourceContainer, Permissions: PermRead, Container: "photos"},
		SignerOptions{TTL: 10 * time.Minute, RenewBefore: time.Minute, Backdate: 15 * time.Minute})
	a, err := s.Token("photos", "a.jpg")
	require.NoError(t, err)
	b, err := s.Token("photos", "deep/b.png")
	require.NoError(t, err)
	assert.Equal(t, a.Encode(), b.Encode(), "container scope signed per blob")
	p := queryParams(t, a)
	require.NotEmpty(t, p.Get("sig"))
	assert.Equal(t, url.Values{"sv": {DefaultVersion}, "sp": {"r"}, "st": {"2026-03-04T04:51:07Z"}, "se": {"2026-03-04T05:16:07Z"},
		"sr": {"c"}, "sig": p["sig"]}, p, "want sr=c, st backdated 15m, se now+10m")
	ta := parseToken(t, a)
	assertVerifies(t, ta, "photos", "")
	assertDoesNotVerify(t, ta, "videos", "")

	clock.Advance(9 * time.Minute) // renew_before (1m) left
	c, err := s.Token("photos", "c.jpg")
	require.NoError(t, err)
	tc := parseToken(t, c)
	assertSameGrant(t, ta, tc)
	assert.Equal(t, time.Date(2026, 3, 4, 5, 0, 7, 0, time.UTC), tc.Start, "renewed st: backdated 15m from the renewal")
	assert.Equal(t, time.Date(2026, 3, 4, 5, 25, 7, 0, time.UTC), tc.Expiry, "renewed se: 10m after the renewal")
	assert.NotEqual(t, ta.signature.Reveal(), tc.signature.Reveal(), "not renewed with renew_before left")
	assertVerifies(t, tc, "photos", "")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 1, Renewals: 1, Entries: 1}, countersOf(s.Stats()))
}

func TestSignerExpiryIsWholeSecondsAndDefaultsRenewal(t *testing.T) {
	clock := newFakeClock()
	clock.Advance(999 * time.Millisecond)
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: 4 * time.Minute})
	q, err := s.Token("photos", "a")
	require.NoError(t, err)
	// se is truncated, so the cache's idea of expiry matches Azure's.
	wantExpiry := time.Date(2026, 3, 4, 5, 10, 7, 0, time.UTC)
	assert.Equal(t, wantExpiry, q.Expiry())
	assert.Equal(t, wantExpiry, parseToken(t, q).Expiry, "se as written")

	clock.Advance(3*time.Minute - 999*time.Millisecond - time.Nanosecond) // just under ttl/4 default margin
	r, err := s.Token("photos", "a")
	require.NoError(t, err)
	assert.Equal(t, q.Encode(), r.Encode(), "renewed before ttl/4 was left")

	clock.Advance(time.Nanosecond) // exactly ttl/4 (the default renew_before) left
	r, err = s.Token("photos", "a")
	require.NoError(t, err)
	tq, tr := parseToken(t, q), parseToken(t, r)
	assertSameGrant(t, tq, tr)
	renewedExpiry := time.Date(2026, 3, 4, 5, 13, 7, 0, time.UTC)
	assert.Equal(t, renewedExpiry, r.Expiry(), "not renewed with ttl/4 left (the default renew_before)")
	assert.Equal(t, renewedExpiry, tr.Expiry, "renewed se as written")
	assert.NotEqual(t, tq.signature.Reveal(), tr.signature.Reveal(), "the renewed token has the old signature")
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 1, Renewals: 1, Entries: 1}, countersOf(s.Stats()))
}

func TestSignerInvalidate(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	a, err := s.Token("photos", "a")
	require.NoError(t, err)
	s.Invalidate("photos", "a")
	assert.Zero(t, s.Stats().Entries, "Invalidate kept the entry")
	clock.Advance(time.Second)
	b, err := s.Token("photos", "a")
	require.NoError(t, err)
	ta, tb := parseToken(t, a), parseToken(t, b)
	assertSameGrant(t, ta, tb)
	assert.Equal(t, time.Date(2026, 3, 4, 6, 6, 8, 0, time.UTC), tb.Expiry, "Invalidate kept the token: se is not from the new signing")
	assert.NotEqual(t, ta.signature.Reveal(), tb.signature.Reveal(), "Invalidate kept the token")
	assertVerifies(t, tb, "photos", "a")
	assert.Equal(t, cacheCounters{Misses: 2, Entries: 1}, countersOf(s.Stats()))
}

func TestSignerRefusesBadBlobNames(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	for _, tc := range []struct{ name, want string }{
		{"", "blob name is empty"},
		{"bad\xffutf8", "blob name is not valid UTF-8"},
		{strings.Repeat("é", 1025), "blob name has 1025 characters; Azure allows at most 1024"},
	} {
		q, err := s.Token("photos", tc.name)
		assert.EqualError(t, err, tc.want, "Token(%q)", clip(tc.name))
		assert.Zero(t, q, "Token(%q) returned a token with its error", clip(tc.name))
	}
	assert.Equal(t, cacheCounters{Misses: 3}, countersOf(s.Stats()), "refused names must leave no entries")

	q, err := s.Token("photos", strings.Repeat("é", 1024))
	require.NoError(t, err, "a 1024-character name (2048 bytes) was refused")
	assertVerifies(t, parseToken(t, q), "photos", strings.Repeat("é", 1024))
	assert.Equal(t, cacheCounters{Misses: 4, Entries: 1}, countersOf(s.Stats()))
}

func TestNewSignerErrors(t *testing.T) {
	key := devKey(t)
	ok := ServiceValues{Permissions: PermRead, Container: "photos"}
	tests := []struct {
		name string
		key  *SharedKey
		v    ServiceValues
		opts SignerOptions
		want string
	}{
		{"no key", nil, ok, SignerOptions{TTL: time.Hour}, "no shared key to sign with"},
		{"no ttl", key, ok, SignerOptions{}, "ttl 0s must be positive"},
		{"fractional ttl", key, ok, SignerOptions{TTL: 1500 * time.Millisecond}, "ttl 1.5s must be whole seconds"},
		{"renew not below ttl", key, ok, SignerOptions{TTL: time.Minute, RenewBefore: time.Minute}, "renew_before 1m0s must be less than ttl 1m0s"},
		{"negative renew", key, ok, SignerOptions{TTL: time.Minute, RenewBefore: -1}, "renew_before -1ns is negative"},
		{"negative backdate", key, ok, SignerOptions{TTL: time.Minute, Backdate: -time.Second}, "backdate -1s is negative"},
		{"blob given", key, ServiceValues{Permissions: PermRead, Container: "photos", Blob: "a"}, SignerOptions{TTL: time.Hour}, "a signer's values name no blob"},
		{"expiry given", key, ServiceValues{Permissions: PermRead, Container: "photos", Expiry: time.Now()}, SignerOptions{TTL: time.Hour}, "a signer's values carry no start or expiry"},
		{"directory", key, ServiceValues{Resource: ResourceDirectory, Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour}, "a signer makes blob (b) or container (c) tokens"},
		{"bad container", key, ServiceValues{Permissions: PermRead, Container: "Photos"}, SignerOptions{TTL: time.Hour}, "container name may hold only lowercase letters"},
		{"no permissions", key, ServiceValues{Container: "photos"}, SignerOptions{TTL: time.Hour}, "permissions (sp) are required"},
		{"write on container letters", key, ServiceValues{Permissions: PermFind, Container: "photos"}, SignerOptions{TTL: time.Hour}, `permissions "f" include letters a blob SAS does not take`},
		{"unknown version", key, ServiceValues{Version: "2099-01-01", Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour}, "signed version is not a known Azure Storage service version"},
		{"negative cache", key, ok, SignerOptions{TTL: time.Hour, MaxEntries: -5}, "cache size -5 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.key, tt.v, tt.opts)
			assert.ErrorContains(t, err, tt.want)
			assert.Nil(t, s, "a signer came back with the error")
		})
	}
}

func TestSignerForAnyContainer(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead}, SignerOptions{TTL: time.Hour, MaxEntries: 2})
	a, err := s.Token("photos", "a.jpg")
	require.NoError(t, err)
	b, err := s.Token("videos", "a.jpg")
	require.NoError(t, err)
	// The same blob name in two containers: the same grant and times, but
	// each token signed for its own container.
	ta, tb := parseToken(t, a), parseToken(t, b)
	assertSameGrant(t, ta, tb)
	assert.Equal(t, ResourceBlob, tb.Resource)
	assert.Equal(t, ta.Expiry, tb.Expiry, "se")
	assert.NotEqual(t, ta.signature.Reveal(), tb.signature.Reveal(), "the same blob name in two containers got one token")
	assertVerifies(t, ta, "photos", "a.jpg")
	assertDoesNotVerify(t, ta, "videos", "a.jpg")
	assertVerifies(t, tb, "videos", "a.jpg")
	assertDoesNotVerify(t, tb, "photos", "a.jpg")

	for _, tc := range []struct{ container, want string }{
		{"", "container name is empty"},
		{"Bad_Container", "container name may hold only lowercase letters, digits and single hyphens inside"},
		{"x", "container name must be 3 to 63 characters long, not 1"},
	} {
		_, err := s.Token(tc.container, "a.jpg")
		assert.ErrorContains(t, err, tc.want, "Token(%q)", tc.container)
	}

	// Containers from requests share the one bounded cache.
	for i := range 50 {
		_, err := s.Token(fmt.Sprintf("c%03d", i), "a.jpg")
		require.NoError(t, err)
	}
	assert.Equal(t, 2, s.Stats().Entries, "want the bound 2")
	s.Invalidate("c049", "a.jpg")
	assert.Equal(t, 1, s.Stats().Entries, "Invalidate left the wrong number of entries")

	// c049 was dropped, c048 kept.
	before := s.Stats()
	_, err = s.Token("c048", "a.jpg")
	require.NoError(t, err)
	assert.Equal(t, before.Hits+1, s.Stats().Hits, "c048 was not served from the cache")
	_, err = s.Token("c049", "a.jpg")
	require.NoError(t, err)
	assert.Equal(t, before.Misses+1, s.Stats().Misses, "c049 was not signed afresh after Invalidate")
}

func TestSignerBoundToAContainerRefusesOthers(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	q, err := s.Token("videos", "a.jpg")
	assert.EqualError(t, err, `this signer signs for container "photos" only`, "Token for another container")
	assert.Zero(t, q, "Token for another container returned a token")

	a, err := s.Token("photos", "a.jpg")
	require.NoError(t, err)
	b, err := s.Token("photos", "a.jpg")
	require.NoError(t, err)
	assert.Equal(t, a.Encode(), b.Encode(), "a second Token of the bound container was not served from the cache")
	s.Invalidate("videos", "a.jpg") // another container: nothing of its is cached
	assert.Equal(t, cacheCounters{Hits: 1, Misses: 1, Entries: 1}, countersOf(s.Stats()))
}

// TestSignerTokenWithHeadersSignsAndCachesEachSet: the call's headers
// replace the signer's own where set, are signed (the token verifies with
// them, and only with them), and are cached apart from the plain token
// and from other headers.
func TestSignerTokenWithHeadersSignsAndCachesEachSet(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "uploads", CacheControl: "max-age=60", ContentLanguage: "en"},
		SignerOptions{TTL: time.Hour})
	plain, err := s.Token("uploads", "users/a/cat.png")
	require.NoError(t, err)
	png := ResponseHeaders{ContentType: "image/png", ContentDisposition: "inline"}
	first, err := s.TokenWithHeaders("uploads", "users/a/cat.png", png)
	require.NoError(t, err)
	again, err := s.TokenWithHeaders("uploads", "users/a/cat.png", png)
	require.NoError(t, err)
	other, err := s.TokenWithHeaders("uploads", "users/a/cat.png", ResponseHeaders{ContentType: "application/octet-stream", ContentDisposition: "attachment"})
	require.NoError(t, err)

	assert.Equal(t, first.Encode(), again.Encode(), "the same headers again: not from the cache")
	assert.NotEqual(t, plain.Encode(), first.Encode(), "headers made no other token")
	assert.NotEqual(t, first.Encode(), other.Encode(), "other headers gave the same token")
	q := queryParams(t, first)
	assert.Equal(t, "image/png", q.Get("rsct"), "rsct")
	assert.Equal(t, "inline", q.Get("rscd"), "rscd")
	assert.Equal(t, "max-age=60", q.Get("rscc"), "the signer's own rscc stays where the call sets none")
	assert.Equal(t, "en", q.Get("rscl"), "the signer's own rscl stays")
	tok := parseToken(t, first)
	assertVerifies(t, tok, "uploads", "users/a/cat.png")
	tok.ContentType = "text/html"
	assertDoesNotVerify(t, tok, "uploads", "users/a/cat.png")
	assert.Equal(t, uint64(3), s.Stats().Misses, "signings: the plain token and two sets of headers")

	empty, err := s.TokenWithHeaders("uploads", "users/a/cat.png", ResponseHeaders{})
	require.NoError(t, err)
	assert.Equal(t, plain.Encode(), empty.Encode(), "no headers: the plain token")
	_, err = s.TokenWithHeaders("uploads", "users/a/cat.png", ResponseHeaders{ContentType: "image/png\ninline"})
	assert.ErrorContains(t, err, "control character", "a header with a line break")
	_, err = s.TokenWithHeaders("photos", "cat.png", png)
	assert.ErrorContains(t, err, `signs for container "uploads" only`)

	// A name that spells a key with headers is refused, not read as one.
	entries := s.Stats().Entries
	spelt := "users/a/cat.png\nmax-age=1\ninline\n\n\ntext/html"
	_, err = s.Token("uploads", spelt)
	assert.EqualError(t, err, "blob name has a control character", "a name with the headers' separator")
	_, err = s.TokenWithHeaders("uploads", spelt, png)
	assert.EqualError(t, err, "blob name has a control character", "a name with the headers' separator, with headers")
	anyContainer, err := NewSigner(devKey(t), ServiceValues{Permissions: PermRead}, SignerOptions{TTL: time.Hour})
	require.NoError(t, err)
	_, err = anyContainer.Token("uploads\nmax-age=1\ninline\n\n\ntext", "cat.png")
	assert.ErrorContains(t, err, "container name may hold only", "a container with the headers' separator")
	_, err = anyContainer.Token("uploads/users", "a/cat.png")
	assert.ErrorContains(t, err, "container name may hold only", `container "uploads/users" would share the key of uploads, users/a/cat.png`)
	assert.Equal(t, entries, s.Stats().Entries, "a refused name left something in the cache")
	assert.Zero(t, anyContainer.Stats().Entries, "a refused container left something in the cache")

	// Azure refused the blob's token: the tokens with headers go too, and
	// only the blob's.
	otherBlob, err := s.TokenWithHeaders("uploads", "users/a/dog.png", png)
	require.NoError(t, err)
	s.Invalidate("uploads", "users/a/cat.png")
	_, err = s.TokenWithHeaders("uploads", "users/a/cat.png", png)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), s.Stats().Misses, "after the refusal: the token with headers was not signed again")
	again, err = s.TokenWithHeaders("uploads", "users/a/dog.png", png)
	require.NoError(t, err)
	assert.Equal(t, otherBlob.Encode(), again.Encode(), "another blob's token with headers went too")
	assert.Equal(t, uint64(5), s.Stats().Misses, "another blob's token with headers was signed again")
}

// clip shortens a value quoted in a test's failure message to 64 bytes.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strings.Clone(s)
	}
	return strings.Clone(s[:max]) + "…"
}
