package sas

import (
	"fmt"
	"log/slog"
	"unsafe"
)

// Redacted is what every secret-holding type of this package prints instead
// of its content.
const Redacted = "REDACTED"

// secret holds a sensitive string, such as a signature or a whole token.
// It prints as REDACTED through fmt (every verb, %#v included), encoding/json,
// encoding.TextMarshaler, log/slog and any logger that honours fmt.Stringer
// (zap does). Only Reveal returns the content.
//
// It holds the text as a pointer to its bytes and a length, not as a
// string: a secret in an unexported field of a struct printed with %+v (where
// fmt cannot call its methods) shows an address and a length, never the
// text. Wrapping a string allocates nothing.
type secret struct {
	data *byte
	n    int
}

// newSecret wraps s.
func newSecret(s string) secret {
	if s == "" {
		return secret{}
	}
	return secret{data: unsafe.StringData(s), n: len(s)}
}

// Reveal returns the secret text. Call it only where the text must leave the
// process: on the wire to Azure, or when a user asked to print it.
func (s secret) Reveal() string {
	if s.data == nil {
		return ""
	}
	return unsafe.String(s.data, s.n) // the bytes of an immutable string
}

// IsZero reports whether the secret is empty.
func (s secret) IsZero() bool { return s.n == 0 }

// String implements fmt.Stringer.
func (s secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that no verb, not even %d or %x, can
// reach the content.
func (s secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON implements json.Marshaler.
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (s secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Stringer   = secret{}
	_ fmt.GoStringer = secret{}
	_ fmt.Formatter  = secret{}
	_ slog.LogValuer = secret{}
)
