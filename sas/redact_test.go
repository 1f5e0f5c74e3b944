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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// secretsOf lists every form in which the test secrets could leak.
func secretsOf(t *testing.T, sig string) []string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(DevAccountKey)
	if err != nil {
		t.Fatal(err)
	}
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
	if j, err := json.Marshal(v); err == nil {
		out["json"] = string(j)
	}
	if j, err := json.Marshal(struct{ V any }{v}); err == nil {
		out["json field"] = string(j)
	}
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
	_ = logger.Sync()
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
			if strings.Contains(text, s) {
				t.Errorf("%s printed with %s shows a secret: %s", what, how, text)
			}
		}
	}
}

func TestSecretsPrintRedacted(t *testing.T) {
	key := devKey(t)
	v := ServiceValues{Permissions: PermRead, Container: "photos", Blob: "a.jpg", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	sig := mustParseQuery(t, q.Encode()).Get("sig")
	tok, err := Parse(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewSigner(key, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = signer.Token("a.jpg") // the cache now holds a token

	secrets := secretsOf(t, sig)
	for what, value := range map[string]any{
		"*SharedKey":        key,
		"Query":             q,
		"*Query":            &q,
		"*Token":            tok,
		"Token":             *tok,
		"Secret":            tok.Signature(),
		"*ConnectionString": cs,
		"ConnectionString":  *cs,
		"*Signer":           signer,
	} {
		assertNoSecret(t, what, everyRendering(t, value), secrets)
	}
	for what, text := range map[string]string{"SharedKey": key.String(), "Query": q.String(), "Secret": tok.Signature().String()} {
		if !strings.Contains(text, Redacted) {
			t.Errorf("%s prints %q, without %s", what, text, Redacted)
		}
	}
	if tok.Signature().Reveal() != sig || q.Encode() == "" {
		t.Error("Reveal or Encode lost the content")
	}
}

func TestKeyErrorsNeverQuoteTheKey(t *testing.T) {
	for _, bad := range []string{
		DevAccountKey[:40] + "!" + DevAccountKey[41:],
		DevAccountKey[:len(DevAccountKey)-2],
		"   ",
		strings.ReplaceAll(DevAccountKey, "/", "_"), // URL-safe base64
	} {
		_, err := NewSharedKey(DevAccountName, bad)
		if err == nil {
			t.Errorf("accepted a bad key")
			continue
		}
		if strings.TrimSpace(bad) == "" {
			continue
		}
		for _, s := range []string{bad[:16], bad[len(bad)/2:]} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q quotes the key", err)
			}
		}
	}
	if _, err := NewSharedKey("Bad Name", DevAccountKey); err == nil || strings.Contains(err.Error(), DevAccountKey[:16]) {
		t.Errorf("bad account name: %v", err)
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
		if got := RedactQuery(in); got != want {
			t.Errorf("RedactQuery(%q) = %q, want %q", in, got, want)
		}
	}
	u, _ := url.Parse("https://user:pw@a.blob.core.windows.net/c/b?sv=1&sig=" + testSigEscaped)
	got := RedactURL(u)
	if strings.Contains(got, "pw") || strings.Contains(got, testSigEscaped) || !strings.Contains(got, "sig=REDACTED") {
		t.Errorf("RedactURL = %q", got)
	}
	if RedactURL(nil) != "" {
		t.Error("RedactURL(nil)")
	}
}

func mustParseQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
