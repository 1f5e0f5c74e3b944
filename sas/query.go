package sas

import (
	"fmt"
	"log/slog"
	"time"
)

// Query is a signed SAS token: the encoded query string to put after '?' in
// a blob URL. It prints as REDACTED through fmt, JSON and loggers; Encode
// returns the token itself.
type Query struct {
	token  Secret
	expiry time.Time
}

func newQuery(encoded string, expiry time.Time) Query {
	return Query{token: NewSecret(encoded), expiry: expiry}
}

// Encode returns the token, without a leading '?'. It is a credential: send
// it to Azure, never to a log.
func (q Query) Encode() string { return q.token.Reveal() }

// Expiry returns the signed expiry (se); zero when a stored access policy
// defines it.
func (q Query) Expiry() time.Time { return q.expiry }

// IsZero reports whether q holds no token.
func (q Query) IsZero() bool { return q.token.IsZero() }

// String implements fmt.Stringer.
func (q Query) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (q Query) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints REDACTED.
func (q Query) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON implements json.Marshaler.
func (q Query) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// LogValue implements slog.LogValuer.
func (q Query) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Formatter  = Query{}
	_ slog.LogValuer = Query{}
)
