package sas

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	// check reports whether appendTime wrote tm as time.Format does; the
	// loops stop at the first difference rather than flood the log.
	check := func(tm time.Time) bool {
		t.Helper()
		return assert.Equal(t, tm.UTC().Format(timeFormat), string(appendTime(nil, tm)), "appendTime(%v)", tm)
	}
	for _, s := range []string{
		"0001-01-01T00:00:00Z", "1600-02-29T23:59:59Z", "1899-12-31T23:59:59Z", "1900-03-01T00:00:00Z",
		"1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2000-02-29T12:00:00Z", "2024-02-29T00:00:00Z",
		"2100-02-28T23:59:59Z", "2100-03-01T00:00:00Z", "9999-12-31T23:59:59Z",
	} {
		tm, err := time.Parse(timeFormat, s)
		require.NoError(t, err)
		if !check(tm) || !check(tm.Add(-time.Second)) || !check(tm.Add(time.Second)) {
			return
		}
	}
	if !check(time.Date(2026, 3, 4, 5, 6, 7, 999999999, time.FixedZone("CET", 3600))) { // zone and fraction dropped
		return
	}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 200_000 {
		if !check(time.Unix(lo+r.Int64N(hi-lo), 0)) {
			return
		}
	}
}

func TestQueryValuesAreFullyEscaped(t *testing.T) {
	for _, v := range []string{"koLniLcK0tMLuMfYeuSQwB+BLnWibhPqnrINxaIRbvU=", "2030-01-02T03:04:05Z", `attachment; filename="a b.jpg"`, "é&x=y#z?%"} {
		q := string(appendParam(nil, "v", v))
		require.Equal(t, "v=", q[:2])
		for _, c := range "+/=:&#? \";" { // '%' appears, as the escape itself
			assert.NotContains(t, q[2:], string(c), "%q written as %q: %q is not escaped", v, q, c)
		}
		back, err := url.ParseQuery(q)
		if assert.NoError(t, err, "%q written as %q does not read back", v, q) {
			assert.Equal(t, v, back.Get("v"), "%q written as %q reads back differently", v, q)
		}
	}
}

func TestLookupVersionFastPathAgreesWithTable(t *testing.T) {
	for _, v := range knownVersions {
		got, err := lookupVersion(v)
		if assert.NoError(t, err, "lookupVersion(%s)", v) {
			assert.Equal(t, describeVersion(v), got, "lookupVersion(%s)", v)
		}
	}
}

// TestFastParamsMatchTheEscaper proves the shortcuts write what appendParam
// would for every value they are used for.
func TestFastParamsMatchTheEscaper(t *testing.T) {
	raw := append([]string{blobLetters, containerLetters, directoryLetters, accountLetters, servicesLetters,
		resourceTypeLetters, "b", "c", "bs", "bv", "d", "0123456789"}, knownVersions...)
	for _, v := range raw {
		assert.Equal(t, string(appendParam([]byte("a=b"), "x", v)), string(appendRawParam([]byte("a=b"), "x", v)), "raw %q", v)
	}
	for _, tm := range []time.Time{{}, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)} {
		ts := appendTime(nil, tm)
		assert.Equal(t, string(appendParam(nil, "se", ts)), string(appendTimeParam(nil, "se", ts)), "time %s", ts)
	}
	for _, odd := range []string{"2030-01-02", "2030-01-02T03:04Z", ""} {
		assert.Equal(t, string(appendParam(nil, "se", odd)), string(appendTimeParam(nil, "se", []byte(odd))), "time %q", odd)
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
		if !assert.Equal(t, string(want), string(appendSigParam([]byte("a=b"), &sum)), "sum %x", sum) {
			return // one difference is enough; do not flood the log
		}
	}
}
