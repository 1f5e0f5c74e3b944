package sas

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func devKey(t testing.TB) *SharedKey {
	t.Helper()
	k, err := NewSharedKey(DevAccountName, DevAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestSigner(t *testing.T, clock *fakeClock, v ServiceValues, opts SignerOptions) *Signer {
	t.Helper()
	opts.Now = clock.Now
	s, err := NewSigner(devKey(t), v, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func queryParams(t *testing.T, q Query) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignerBlobScopeSignsEachBlob(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})

	a, err := s.Token("2024/a b+c.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Token("2024/other.jpg")
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := queryParams(t, a), queryParams(t, b)
	if pa.Get("sig") == pb.Get("sig") {
		t.Fatal("two blobs got the same signature in blob scope")
	}
	want := url.Values{"sv": {DefaultVersion}, "sp": {"r"}, "se": {"2026-03-04T06:06:07Z"}, "sr": {"b"}, "sig": pa["sig"]}
	if pa.Encode() != want.Encode() {
		t.Errorf("token %v, want %v (no st: valid at once)", pa, want)
	}
	tok, err := Parse(a.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.VerifyService(devKey(t), "photos", "2024/a b+c.jpg", ""); err != nil {
		t.Errorf("blob token does not verify for its blob: %v", err)
	}
	if err := tok.VerifyService(devKey(t), "photos", "2024/other.jpg", ""); err == nil {
		t.Error("blob token verifies for another blob")
	}
	if st := s.Stats(); st.Misses != 2 || st.Entries != 2 {
		t.Errorf("stats %+v, want 2 misses, 2 entries", st)
	}
}

func TestSignerContainerScopeSharesOneToken(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Resource: ResourceContainer, Permissions: PermRead, Container: "photos"},
		SignerOptions{TTL: 10 * time.Minute, RenewBefore: time.Minute, Backdate: 15 * time.Minute})
	a, _ := s.Token("a.jpg")
	b, _ := s.Token("deep/b.png")
	if a.Encode() != b.Encode() {
		t.Fatal("container scope signed per blob")
	}
	p := queryParams(t, a)
	if p.Get("sr") != "c" || p.Get("st") != "2026-03-04T04:51:07Z" || p.Get("se") != "2026-03-04T05:16:07Z" {
		t.Errorf("token %v: want sr=c, st backdated 15m, se now+10m", p)
	}
	clock.Advance(9 * time.Minute)
	c, _ := s.Token("c.jpg")
	if c.Encode() == a.Encode() {
		t.Error("not renewed with renew_before left")
	}
	if st := s.Stats(); st.Hits != 1 || st.Renewals != 1 || st.Entries != 1 {
		t.Errorf("stats %+v, want 1 hit, 1 renewal, 1 entry", st)
	}
}

func TestSignerExpiryIsWholeSecondsAndDefaultsRenewal(t *testing.T) {
	clock := newFakeClock()
	clock.Advance(999 * time.Millisecond)
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: 4 * time.Minute})
	q, _ := s.Token("a")
	// se is truncated, so the cache's idea of expiry matches Azure's.
	if !q.Expiry().Equal(time.Date(2026, 3, 4, 5, 10, 7, 0, time.UTC)) {
		t.Errorf("expiry %v", q.Expiry())
	}
	clock.Advance(3*time.Minute - 999*time.Millisecond - time.Nanosecond) // just under ttl/4 default margin
	if r, _ := s.Token("a"); r.Encode() != q.Encode() {
		t.Error("renewed before ttl/4 was left")
	}
	clock.Advance(time.Nanosecond)
	if r, _ := s.Token("a"); r.Encode() == q.Encode() {
		t.Error("not renewed with ttl/4 left (the default renew_before)")
	}
}

func TestSignerInvalidate(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	a, _ := s.Token("a")
	s.Invalidate("a")
	clock.Advance(time.Second)
	if b, _ := s.Token("a"); b.Encode() == a.Encode() {
		t.Error("Invalidate kept the token")
	}
}

func TestSignerRefusesBadBlobNames(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	for _, name := range []string{"", "bad\xffutf8", strings.Repeat("é", 1025)} {
		if _, err := s.Token(name); err == nil {
			t.Errorf("Token(%q) signed", clip(name))
		}
	}
	if n := s.Stats().Entries; n != 0 {
		t.Errorf("%d entries left by refused names", n)
	}
	if _, err := s.Token(strings.Repeat("é", 1024)); err != nil {
		t.Errorf("a 1024-character name (2048 bytes) was refused: %v", err)
	}
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
		{"no key", nil, ok, SignerOptions{TTL: time.Hour}, "no shared key"},
		{"no ttl", key, ok, SignerOptions{}, "ttl 0s must be positive"},
		{"fractional ttl", key, ok, SignerOptions{TTL: 1500 * time.Millisecond}, "whole seconds"},
		{"renew not below ttl", key, ok, SignerOptions{TTL: time.Minute, RenewBefore: time.Minute}, "renew_before 1m0s must be less than ttl 1m0s"},
		{"negative renew", key, ok, SignerOptions{TTL: time.Minute, RenewBefore: -1}, "renew_before -1ns is negative"},
		{"negative backdate", key, ok, SignerOptions{TTL: time.Minute, Backdate: -time.Second}, "backdate -1s is negative"},
		{"blob given", key, ServiceValues{Permissions: PermRead, Container: "photos", Blob: "a"}, SignerOptions{TTL: time.Hour}, "name no blob"},
		{"expiry given", key, ServiceValues{Permissions: PermRead, Container: "photos", Expiry: time.Now()}, SignerOptions{TTL: time.Hour}, "no start or expiry"},
		{"directory", key, ServiceValues{Resource: ResourceDirectory, Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour}, `not "d"`},
		{"bad container", key, ServiceValues{Permissions: PermRead, Container: "Photos"}, SignerOptions{TTL: time.Hour}, "container name"},
		{"no permissions", key, ServiceValues{Container: "photos"}, SignerOptions{TTL: time.Hour}, "permissions (sp) are required"},
		{"write on container letters", key, ServiceValues{Permissions: PermFind, Container: "photos"}, SignerOptions{TTL: time.Hour}, "include letters a blob SAS does not take"},
		{"unknown version", key, ServiceValues{Version: "2099-01-01", Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour}, "not a known Azure Storage service version"},
		{"negative cache", key, ok, SignerOptions{TTL: time.Hour, MaxEntries: -5}, "cache size -5 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(tt.key, tt.v, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSignerForAnyContainer(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead}, SignerOptions{TTL: time.Hour, MaxEntries: 2})
	a, err := s.TokenFor("photos", "a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.TokenFor("videos", "a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if a.Encode() == b.Encode() {
		t.Fatal("the same blob name in two containers got one token")
	}
	tok, _ := Parse(b.Encode())
	if err := tok.VerifyService(devKey(t), "videos", "a.jpg", ""); err != nil {
		t.Errorf("token for videos/a.jpg: %v", err)
	}
	for _, c := range []string{"", "Bad_Container", "x"} {
		if _, err := s.TokenFor(c, "a.jpg"); err == nil {
			t.Errorf("TokenFor(%q) signed", c)
		}
	}
	if _, err := s.Token("a.jpg"); err == nil {
		t.Error("Token without a container signed")
	}
	// Containers from requests share the one bounded cache.
	for i := range 50 {
		if _, err := s.TokenFor(fmt.Sprintf("c%03d", i), "a.jpg"); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Stats().Entries; n != 2 {
		t.Errorf("%d entries, want the bound 2", n)
	}
	s.InvalidateFor("c049", "a.jpg")
	if n := s.Stats().Entries; n != 1 {
		t.Errorf("InvalidateFor left %d entries, want 1", n)
	}
}

func TestSignerBoundToAContainerRefusesOthers(t *testing.T) {
	clock := newFakeClock()
	s := newTestSigner(t, clock, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	if _, err := s.TokenFor("videos", "a.jpg"); err == nil || !strings.Contains(err.Error(), `container "photos" only`) {
		t.Errorf("TokenFor another container: %v", err)
	}
	a, _ := s.Token("a.jpg")
	b, _ := s.TokenFor("photos", "a.jpg")
	if a.Encode() != b.Encode() || s.Stats().Entries != 1 {
		t.Error("Token and TokenFor of the bound container do not share one entry")
	}
}
