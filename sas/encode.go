package sas

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// timeFormat is how this package writes st, se, skt and ske: UTC to the
// second, the form Azure documents and the SDKs use.
const timeFormat = "2006-01-02T15:04:05Z"

// snapshotTimeFormat is the form of a snapshot's ?snapshot= value: UTC with
// seven fractional digits.
const snapshotTimeFormat = "2006-01-02T15:04:05.0000000Z"

// appendTime appends t in timeFormat without going through time.Format, and
// without Date and Clock, which each work out the calendar again: this runs
// on every signing.
func appendTime(dst []byte, t time.Time) []byte {
	secs := t.Unix()
	days := secs / 86400
	if secs < 0 && secs%86400 != 0 {
		days-- // floor, for times before 1970
	}
	rem := int(secs - days*86400)
	year, month, day := civilFromDays(days)
	if year < 0 || year > 9999 {
		// Out of Azure's range; validated earlier, written plainly here.
		return t.UTC().AppendFormat(dst, timeFormat)
	}
	hour, minute, sec := rem/3600, rem/60%60, rem%60
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), 'Z')
}

// civilFromDays turns days since 1970-01-01 into a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse, valid for any int64 here).
func civilFromDays(days int64) (year, month, day int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

// parseTime reads a SAS time in any form Azure accepts: YYYY-MM-DD,
// YYYY-MM-DDThh:mmZ, YYYY-MM-DDThh:mm:ssZ, or with up to seven fractional
// digits of a second.
func parseTime(s string) (time.Time, error) {
	if dot := strings.IndexByte(s, '.'); dot >= 0 && len(s)-dot-2 > 7 {
		return time.Time{}, errBadTime // more than 7 digits before the Z
	}
	for _, layout := range [...]string{timeFormat, "2006-01-02", "2006-01-02T15:04Z", "2006-01-02T15:04:05.9999999Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadTime
}

// queryEscapes marks the bytes written as they are in a query value: RFC
// 3986 unreserved characters. Everything else, '+' '/' '=' ':' included, is
// percent-encoded, so the value reads back the same under any decoder.
var queryEscapes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~')
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// appendEscaped appends s percent-encoded for a query value.
func appendEscaped[T string | []byte](dst []byte, s T) []byte {
	run := 0 // start of the bytes not yet copied
	for i := 0; i < len(s); i++ {
		if c := s[i]; queryEscapes[c] {
			dst = append(dst, s[run:i]...)
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			run = i + 1
		}
	}
	return append(dst, s[run:]...)
}

// appendRawParam is appendParam for values made only of unreserved
// characters (validated versions, permission and resource letters, digits),
// which need no escaping: skipping the byte-by-byte check matters on a path
// that runs for every signing.
func appendRawParam[T string | []byte](dst []byte, name string, value T) []byte {
	if len(value) == 0 {
		return dst
	}
	dst = appendParamName(dst, name)
	return append(dst, value...)
}

// appendTimeParam is appendParam for a time written by appendTime, whose
// only characters to escape are the two ':' at fixed places.
func appendTimeParam(dst []byte, name string, ts []byte) []byte {
	if len(ts) != len(timeFormat) || ts[13] != ':' || ts[16] != ':' {
		return appendParam(dst, name, ts)
	}
	dst = appendParamName(dst, name)
	dst = append(dst, ts[:13]...)
	dst = append(dst, "%3A"...)
	dst = append(dst, ts[14:16]...)
	dst = append(dst, "%3A"...)
	return append(dst, ts[17:]...)
}

const base64Std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// appendSigParam appends "&sig=" and the standard base64 of an HMAC-SHA256
// sum, percent-encoded as it is written ('+' '/' '=' as %2B %2F %3D): one
// pass instead of encoding, then escaping.
func appendSigParam(dst []byte, sum *[32]byte) []byte {
	dst = appendParamName(dst, "sig")
	w := len(dst)
	dst = slices.Grow(dst, 44*3)[:w+44*3] // every character escaped, at worst
	for i := 0; i < 30; i += 3 {
		v := uint(sum[i])<<16 | uint(sum[i+1])<<8 | uint(sum[i+2])
		w = putBase64(dst, w, v>>18)
		w = putBase64(dst, w, v>>12&63)
		w = putBase64(dst, w, v>>6&63)
		w = putBase64(dst, w, v&63)
	}
	v := uint(sum[30])<<16 | uint(sum[31])<<8 // 32 = 30 + 2: three characters and '='
	w = putBase64(dst, w, v>>18)
	w = putBase64(dst, w, v>>12&63)
	w = putBase64(dst, w, v>>6&63)
	w += copy(dst[w:], "%3D")
	return dst[:w]
}

// putBase64 writes base64 digit x at dst[w], escaped, and returns the end.
func putBase64(dst []byte, w int, x uint) int {
	switch c := base64Std[x&63]; c {
	case '+':
		return w + copy(dst[w:], "%2B")
	case '/':
		return w + copy(dst[w:], "%2F")
	default:
		dst[w] = c
		return w + 1
	}
}

// appendParamName appends "&name=", without the '&' at the start.
func appendParamName(dst []byte, name string) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	dst = append(dst, name...)
	return append(dst, '=')
}

// appendParam appends "&name=value" (no '&' first), skipping empty values.
func appendParam[T string | []byte](dst []byte, name string, value T) []byte {
	if len(value) == 0 {
		return dst
	}
	dst = appendParamName(dst, name)
	return appendEscaped(dst, value)
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
