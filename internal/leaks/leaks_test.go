package leaks_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/leaks"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// logLine is the JSON line a Caddy logger writes for msg and fields.
func logLine(t *testing.T, fields ...zap.Field) []byte {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	buf, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.DebugLevel, Time: time.Now(), Message: "upstream roundtrip"}, fields)
	require.NoError(t, err)
	return bytes.Clone(buf.Bytes())
}

// signed is a fresh read token, its signature, and the HMAC's bytes.
func signed(t *testing.T) (token, sig string, mac []byte) {
	t.Helper()
	raw := make([]byte, 64)
	_, _ = rand.Read(raw)
	key, err := sas.NewSharedKey(sas.DevAccountName, base64.StdEncoding.EncodeToString(raw))
	require.NoError(t, err)
	q, err := (&sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: sas.PermRead, Container: "photos", Blob: "a.jpg",
		Expiry: time.Now().Add(time.Hour)}).Sign(key)
	require.NoError(t, err)
	query, err := url.ParseQuery(q.Encode())
	require.NoError(t, err)
	sig = query.Get("sig")
	mac, err = base64.StdEncoding.DecodeString(sig)
	require.NoError(t, err)
	return q.Encode(), sig, mac
}

// pieces cuts s into pieces of n characters.
func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// TestFindsEveryEncoding injects a token into a log line in each form a
// leak could take and sees it found: by the signature when it is known,
// and, but for the cut-up ones, by its shape when it is not.
func TestFindsEveryEncoding(t *testing.T) {
	token, sig, mac := signed(t)
	escape3 := url.QueryEscape(url.QueryEscape(url.QueryEscape(token)))
	cases := []struct {
		name   string
		line   []byte
		byKind bool // found by its shape alone too
	}{
		{"the token in a URI", logLine(t, zap.String("uri", "/photos/a.jpg?"+token)), true},
		{"URL-encoded once", logLine(t, zap.String("query", url.QueryEscape(token))), true},
		{"URL-encoded three times", logLine(t, zap.String("query", escape3)), true},
		{"the signature in base64", logLine(t, zap.String("v", base64.StdEncoding.EncodeToString([]byte(sig)))), true},
		{"the signature in base64url", logLine(t, zap.String("v", base64.RawURLEncoding.EncodeToString([]byte(sig)))), true},
		{"the signature's text in hex", logLine(t, zap.String("v", hex.EncodeToString([]byte(sig)))), true},
		{"the HMAC in hex", logLine(t, zap.String("v", hex.EncodeToString(mac))), false},
		{"the HMAC as bytes", logLine(t, zap.Binary("v", mac)), false},
		{"the token as bytes", logLine(t, zap.Binary("token", []byte(token))), true},
		{"the token as bytes, one byte in", logLine(t, zap.Binary("token", []byte("?"+token))), true},
		{"the token as bytes, two bytes in", logLine(t, zap.Binary("token", []byte("/?"+token))), true},
		{"the signature in fields of 15", logLine(t, zap.Strings("parts", pieces(sig, 15))), false},
		{"the signature in fields of 15, escaped", logLine(t, zap.Strings("parts", pieces(url.QueryEscape(sig), 15))), false},
	}
	known := leaks.New()
	known.Add("the signature", token) // a token adds its signature
	require.Equal(t, 1, known.Known())
	unknown := leaks.New()
	for _, c := range cases {
		assert.NotEmpty(t, known.Find(c.line), "%s, known: not found in %s", c.name, c.line)
		if c.byKind {
			assert.NotEmpty(t, unknown.Find(c.line), "%s, by its shape: not found in %s", c.name, c.line)
		}
	}
	// Found by what it is, never by its value.
	for _, what := range known.Find(cases[0].line) {
		assert.NotContains(t, what, sig[:12])
	}
}

// TestLeavesCleanLinesAlone: what clients send and Azure answers, digests,
// block IDs and names are not secrets, with secrets known.
func TestLeavesCleanLinesAlone(t *testing.T) {
	token, _, _ := signed(t)
	s := leaks.New()
	s.Add("the signature", token)
	s.Add("Azurite's account key", sas.DevAccountKey)
	for _, clean := range [][]byte{
		[]byte(`{"uri":"/cat.jpg?sig=forged&sp=racwd","Content-Md5":["Q2hlY2sgSW50ZWdyaXR5IQ=="]}`),
		[]byte(`{"x-ms-request-id":"1b0a6c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b","etag":"\"0x8DC9A1B2C3D4E5F\""}`),
		logLine(t, zap.String("sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
			zap.String("blockid", "c2VjcmV0LWZyZWUtYmxvY2stMDAwMDAwMDE="), zap.String("blob", "users/alice/holiday-photos-2026/IMG_0001.jpg")),
		logLine(t, zap.String("x-ms-content-crc64", "iJh5CoYUi64="), zap.String("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")),
	} {
		assert.Empty(t, s.Find(clean), "%s", clean)
	}
}

// TestPiecesOfKnownSecrets: any 12 characters of a known secret are found,
// fewer are not; secrets under 16 characters are not kept.
func TestPiecesOfKnownSecrets(t *testing.T) {
	s := leaks.New()
	s.Add("Azurite's account key", sas.DevAccountKey)
	s.Add("a short word", "too-short")
	assert.Equal(t, 1, s.Known())
	for i := 0; i+leaks.TextWindow <= len(sas.DevAccountKey); i += 7 {
		assert.NotEmpty(t, s.Find([]byte("… "+sas.DevAccountKey[i:i+leaks.TextWindow]+" …")), "piece at %d", i)
	}
	assert.Empty(t, s.Find([]byte("… "+sas.DevAccountKey[3:3+leaks.TextWindow-1]+" …")), "11 characters")
}
