package sas

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"
)

func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		got := string(appendTime(nil, tm))
		if want := tm.UTC().Format(TimeFormat); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	for _, s := range []string{
		"0001-01-01T00:00:00Z", "1600-02-29T23:59:59Z", "1899-12-31T23:59:59Z", "1900-03-01T00:00:00Z",
		"1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2000-02-29T12:00:00Z", "2024-02-29T00:00:00Z",
		"2100-02-28T23:59:59Z", "2100-03-01T00:00:00Z", "9999-12-31T23:59:59Z",
	} {
		tm, err := time.Parse(TimeFormat, s)
		if err != nil {
			t.Fatal(err)
		}
		check(tm)
		check(tm.Add(-time.Second))
		check(tm.Add(time.Second))
	}
	check(time.Date(2026, 3, 4, 5, 6, 7, 999999999, time.FixedZone("CET", 3600))) // zone and fraction dropped
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 200_000 {
		check(time.Unix(lo+r.Int64N(hi-lo), 0))
	}
}

func TestQueryValuesAreFullyEscaped(t *testing.T) {
	for _, v := range []string{"koLniLcK0tMLuMfYeuSQwB+BLnWibhPqnrINxaIRbvU=", "2030-01-02T03:04:05Z", `attachment; filename="a b.jpg"`, "é&x=y#z?%"} {
		q := string(appendParam(nil, "v", v))
		for _, c := range []byte("+/=:&#? \";") { // '%' appears, as the escape itself
			if contains(q[2:], c) {
				t.Errorf("%q written as %q: %q is not escaped", v, q, c)
			}
		}
		back, err := url.ParseQuery(q)
		if err != nil || back.Get("v") != v {
			t.Errorf("%q written as %q reads back as %q (%v)", v, q, back.Get("v"), err)
		}
	}
}

func contains(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func TestLookupVersionFastPathAgreesWithTable(t *testing.T) {
	for _, v := range knownVersions {
		got, err := lookupVersion(v)
		if err != nil || got != describeVersion(v) {
			t.Errorf("lookupVersion(%s) = %+v, %v; want %+v", v, got, err, describeVersion(v))
		}
	}
}

// TestFastParamsMatchTheEscaper proves the shortcuts write what appendParam
// would for every value they are used for.
func TestFastParamsMatchTheEscaper(t *testing.T) {
	raw := append([]string{blobLetters, containerLetters, directoryLetters, accountLetters, servicesLetters,
		resourceTypeLetters, "b", "c", "bs", "bv", "d", "0123456789"}, knownVersions...)
	for _, v := range raw {
		if got, want := string(appendRawParam([]byte("a=b"), "x", v)), string(appendParam([]byte("a=b"), "x", v)); got != want {
			t.Errorf("raw %q: %q, escaper %q", v, got, want)
		}
	}
	for _, tm := range []time.Time{{}, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		ts := appendTime(nil, tm)
		if got, want := string(appendTimeParam(nil, "se", ts)), string(appendParam(nil, "se", ts)); got != want {
			t.Errorf("time %s: %q, escaper %q", ts, got, want)
		}
	}
	for _, odd := range []string{"2030-01-02", "2030-01-02T03:04Z", ""} {
		if got, want := string(appendTimeParam(nil, "se", []byte(odd))), string(appendParam(nil, "se", odd)); got != want {
			t.Errorf("time %q: %q, escaper %q", odd, got, want)
		}
	}
}

// TestAppendSigParamMatchesEncodeThenEscape checks the one-pass encoder
// against base64 then query escaping, for many sums.
func TestAppendSigParamMatchesEncodeThenEscape(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var sum [32]byte
	for i := range 20000 {
		for j := range sum {
			sum[j] = byte(r.Uint32())
		}
		if i == 0 {
			sum = [32]byte{0xfb, 0xff, 0xbf} // '+' and '/' early
		}
		want := appendParam([]byte("a=b"), "sig", base64.StdEncoding.EncodeToString(sum[:]))
		if got := appendSigParam([]byte("a=b"), &sum); string(got) != string(want) {
			t.Fatalf("sum %x: %s, want %s", sum, got, want)
		}
	}
}
