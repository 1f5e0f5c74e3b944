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
func (q Token) Encode() string { return q.token.Reveal() }

// Expiry returns the signed expiry (se); zero when a stored access policy
// defines it.
func (q Token) Expiry() time.Time { return q.expiry }

// IsZero reports whether q holds no token.
func (q Token) IsZero() bool { return q.token.IsZero() }

// String implements fmt.Stringer.
func (q Token) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (q Token) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints REDACTED.
func (q Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON implements json.Marshaler.
func (q Token) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// LogValue implements slog.LogValuer.
func (q Token) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Formatter  = Token{}
	_ slog.LogValuer = Token{}
)
