package sas

import (
	"fmt"
	"log/slog"
	"time"
)

// Token is a signed SAS token: the encoded query string to put after '?' in
// a blob URL. It prints as REDACTED through fmt, JSON and loggers; Encode
// returns the token itself.
type Token struct {
	token  secret
	expiry time.Time
}

func newToken(encoded string, expiry time.Time) Token {
	return Token{token: newSecret(encoded), expiry: expiry}
}

// Encode returns the token, without a leading '?'. It is a credential: send
// it to Azure, never to a log.
func (t Token) Encode() string { return t.token.Reveal() }

// Expiry returns the signed expiry (se); zero when a stored access policy
// defines it.
func (t Token) Expiry() time.Time { return t.expiry }

// IsZero reports whether q holds no token.
func (t Token) IsZero() bool { return t.token.IsZero() }

// String implements fmt.Stringer.
func (t Token) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (t Token) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints REDACTED.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON implements json.Marshaler.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Formatter  = Token{}
	_ slog.LogValuer = Token{}
)
