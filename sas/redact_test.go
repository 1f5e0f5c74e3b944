package sas

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// secretsOf lists every form in which the test secrets could leak.
func secretsOf(t *testing.T, sig string) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(DevAccountKey)
	require.NoError(t, err)
	forms := []string{DevAccountKey, DevAccountKey[:24], hex.EncodeToString(raw)[:24], string(raw[:12]), fmt.Sprint(raw[:6])[1:12]}
	if sig != "" {
		forms = append(forms, sig, url.QueryEscape(sig), sig[:16])
	}
	return forms
}

// everyRendering prints v the ways code and loggers print values.
func everyRendering(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	out["struct %+v"] = fmt.Sprintf("%+v", struct{ Field, field any }{v, v})
	out["struct %#v"] = fmt.Sprintf("%#v", struct{ Field, field any }{v, v})
	out["slice %v"] = fmt.Sprintf("%v", []any{v})
	j, err := json.Marshal(v)
	require.NoError(t, err, "json")
	out["json"] = string(j)
	j, err = json.Marshal(struct{ V any }{v})
	require.NoError(t, err, "json field")
	out["json field"] = string(j)
	var sb bytes.Buffer
	slog.New(slog.NewJSONHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("m", "v", v)
	slog.New(slog.NewTextHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("m", "v", v)
	out["slog"] = sb.String()

	core, logs := observer.New(zapcore.DebugLevel)
	var zb bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewTee(core, zapcore.NewCore(enc, zapcore.AddSync(&zb), zapcore.DebugLevel)))
	logger.Debug("m", zap.Any("any", v), zap.Reflect("reflect", v), zap.Any("wrapped", struct{ V any }{v}))
	if s, ok := v.(fmt.Stringer); ok {
		logger.Debug("m", zap.Stringer("stringer", s))
	}
	require.NoError(t, logger.Sync())
	for _, e := range logs.All() {
		for k, f := range e.ContextMap() {
			out["zap observer "+k] = fmt.Sprint(f)
		}
	}
	out["zap json"] = zb.String()
	return out
}

func assertNoSecret(t *testing.T, what string, renderings map[string]string, secrets []string) {
	t.Helper()
	for how, text := range renderings {
		for _, s := range secrets {
			assert.NotContains(t, text, s, "%s printed with %s shows a secret", what, how)
		}
	}
}

func TestSecretsPrintRedacted(t *testing.T) {
	key := devKey(t)
	v := ServiceValues{Permissions: PermRead, Container: "photos", Blob: "a.jpg", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(key)
	require.NoError(t, err)
	sig := mustParseQuery(t, q.Encode()).Get("sig")
	require.NotEmpty(t, sig)
	tok, err := Parse(q.Encode())
	require.NoError(t, err)
	cs, err := ParseConnectionString("UseDevelopmentStorage=true")
	require.NoError(t, err)
	signer, err := NewSigner(key, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	require.NoError(t, err)
	_, err = signer.Token("photos", "a.jpg")
	require.NoError(t, err)
	require.Equal(t, 1, signer.Stats().Entries, "the cache should now hold a token")

	secrets := secretsOf(t, sig)
	for what, value := range map[string]any{
		"*SharedKey":        key,
		"Token":             q,
		"*Token":            &q,
		"*ParsedToken":      tok,
		"ParsedToken":       *tok,
		"secret":            tok.signature,
		"*ConnectionString": cs,
		"ConnectionString":  *cs,
		"*Signer":           signer,
	} {
		assertNoSecret(t, what, everyRendering(t, value), secrets)
	}
	assert.Equal(t, "SharedKey(account="+DevAccountName+", key="+Redacted+")", key.String())
	assert.Equal(t, Redacted, q.String(), "Token")
	assert.Equal(t, Redacted, tok.signature.String(), "secret")
	assert.Equal(t, sig, tok.signature.Reveal(), "Reveal lost the content")
	assert.Equal(t, q.Encode(), tok.Token().Encode(), "Encode lost the content")
}

func TestKeyErrorsNeverQuoteTheKey(t *testing.T) {
	for _, tc := range []struct{ bad, want string }{
		{DevAccountKey[:40] + "!" + DevAccountKey[41:], "account key is not valid base64 (bad input at byte 40 of 88)"},
		{DevAccountKey[:len(DevAccountKey)-2], "account key is not valid base64 (bad input at byte 84 of 86)"},
		{"   ", "account key is empty"},
		{strings.ReplaceAll(DevAccountKey, "/", "_"), "account key is not valid base64 (bad input at byte 62 of 88)"}, // URL-safe base64
	} {
		k, err := NewSharedKey(DevAccountName, tc.bad)
		assert.Nil(t, k, "accepted a bad key")
		if !assert.EqualError(t, err, tc.want) || strings.TrimSpace(tc.bad) == "" {
			continue
		}
		for _, s := range []string{tc.bad[:16], tc.bad[len(tc.bad)/2:]} {
			assert.NotContains(t, err.Error(), s, "the error quotes the key")
		}
	}
	_, err := NewSharedKey("Bad Name", DevAccountKey)
	if assert.ErrorContains(t, err, "account name may hold only lowercase letters and digits", "bad account name") {
		assert.NotContains(t, err.Error(), DevAccountKey[:16], "bad account name: the error quotes the key")
	}
}

func TestRedactQueryAndURL(t *testing.T) {
	tests := map[string]string{
		"sv=2025-11-05&sig=" + testSigEscaped + "&sp=r": "sv=2025-11-05&sig=REDACTED&sp=r",
		"SIG=abc&%73ig=def&sig":                         "SIG=REDACTED&%73ig=REDACTED&sig=REDACTED",
		"a=1&%zz=2":                                     "a=1&%zz=REDACTED",
		"":                                              "",
	}
	for in, want := range tests {
		assert.Equal(t, want, RedactQuery(in), "RedactQuery(%q)", in)
	}
	u, err := url.Parse("https://user:pw@a.blob.core.windows.net/c/b?sv=1&sig=" + testSigEscaped)
	require.NoError(t, err)
	got := redactURL(u)
	assert.Equal(t, "https://"+Redacted+"@a.blob.core.windows.net/c/b?sv=1&sig="+Redacted, got)
	assert.NotContains(t, got, "pw")
	assert.NotContains(t, got, testSigEscaped)
	assert.Empty(t, redactURL(nil), "redactURL(nil)")
}

// TestRedactedURLDropsTheFragment: a token pasted with a raw '#' spills the
// rest of itself, sig included, into the URL's fragment.
func TestRedactedURLDropsTheFragment(t *testing.T) {
	u, err := url.Parse("https://a.blob.core.windows.net/c/b?sv=1&rscd=a#b&sig=" + testSigEscaped)
	require.NoError(t, err)
	require.Equal(t, "b&sig="+testSig, u.Fragment, "the sig should be in the fragment for this test to mean anything")
	got := redactURL(u)
	assert.Equal(t, "https://a.blob.core.windows.net/c/b?sv=1&rscd=a", got)
	assertNoSig(t, got, "redactURL left a sig in the fragment")
}

func mustParseQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	require.NoError(t, err)
	return v
}
