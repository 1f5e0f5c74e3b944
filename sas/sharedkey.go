package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
)

// SharedKey is a storage account name with one of its access keys. It signs
// service and account SAS tokens. Create it with NewSharedKey; it is safe for
// concurrent use.
//
// The decoded key is captured only by the pool of keyed HMACs, so no path
// through fmt, encoding/json or a logger can reach it: the type prints as
// "SharedKey(account=NAME, key=REDACTED)".
type SharedKey struct {
	account string
	states  sync.Pool // of *signState, whose HMAC is keyed with the account key
	dev     bool      // Azurite's published development account and key
}

// signState is the scratch space of one signing: a keyed HMAC and buffers
// for the string-to-sign, the query and the signature. Pooling them per key
// leaves the returned token as the only allocation.
type signState struct {
	mac             hash.Hash
	sts, query, sig []byte
	sum             [sha256.Size]byte
}

// NewSharedKey decodes a base64 account key (as shown in the Azure portal or
// a connection string) for the named account.
// Errors say what is wrong without quoting the key.
func NewSharedKey(account, base64Key string) (*SharedKey, error) {
	if err := CheckAccountName(account); err != nil {
		return nil, err
	}
	raw, err := decodeAccountKey(base64Key)
	if err != nil {
		return nil, err
	}
	return newSharedKey(account, raw), nil
}

// newSharedKey makes a key from checked parts. Tests call it directly for
// published vectors whose account names break Azure's naming rule.
func newSharedKey(account string, raw []byte) *SharedKey {
	k := &SharedKey{account: account, dev: account == DevAccountName && hmac.Equal(raw, devAccountKeyRaw)}
	k.states.New = func() any {
		return &signState{
			mac: hmac.New(sha256.New, raw),
			sts: make([]byte, 0, 512), query: make([]byte, 0, 512), sig: make([]byte, 0, 64),
		}
	}
	return k
}

// devAccountKeyRaw is DevAccountKey decoded.
var devAccountKeyRaw, _ = base64.StdEncoding.DecodeString(DevAccountKey)

// IsDevelopmentKey reports whether k is Azurite's development account,
// devstoreaccount1, with its published key (DevAccountKey). Its tokens
// hold no secret: anyone can sign them, so they may cross any network.
// A nil key is not.
func (k *SharedKey) IsDevelopmentKey() bool {
	return k != nil && k.dev
}

// decodeAccountKey accepts standard base64 with padding, the form Azure
// shows, ignoring surrounding white space (a key read from a file).
func decodeAccountKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("account key is empty")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, fmt.Errorf("account key is not valid base64 (bad input at byte %d of %d)", int64(corrupt), len(s))
		}
		return nil, errors.New("account key is not valid base64")
	}
	if len(raw) == 0 {
		return nil, errors.New("account key is empty")
	}
	return raw, nil
}

// CheckAccountName applies Azure's rule for storage account names: 3 to 24
// lowercase letters and digits. Azurite's development account follows it.
// Its errors never quote the name: a value in the wrong field may be a key.
func CheckAccountName(name string) error {
	if name == "" {
		return errors.New("account name is empty")
	}
	if len(name) < 3 || len(name) > 24 {
		// Not quoted: a value this long may be a key in the wrong place.
		return fmt.Errorf("account name is %d characters; Azure allows 3 to 24", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return errors.New("account name may hold only lowercase letters and digits")
		}
	}
	return nil
}

// Account returns the storage account name.
func (k *SharedKey) Account() string { return k.account }

func (k *SharedKey) getState() *signState { return k.states.Get().(*signState) }

// putState returns s to the pool after wiping it: the string-to-sign and the
// signature should not linger in reused memory.
func (k *SharedKey) putState(s *signState) {
	clear(s.sts)
	clear(s.query)
	clear(s.sig)
	clear(s.sum[:])
	if cap(s.sts) > 64<<10 || cap(s.query) > 64<<10 {
		return // grown by an outsized name; let it go
	}
	s.sts, s.query, s.sig = s.sts[:0], s.query[:0], s.sig[:0]
	k.states.Put(s)
}

// macSTS sets s.sum to HMAC-SHA256(key, s.sts).
func (s *signState) macSTS() {
	s.mac.Reset()
	s.mac.Write(s.sts)
	s.mac.Sum(s.sum[:0])
}

// signSTS sets s.sig to base64(HMAC-SHA256(key, s.sts)), to compare with a
// token's sig. Signing writes the sum into the query with appendSigParam.
func (s *signState) signSTS() {
	s.macSTS()
	s.sig = base64.StdEncoding.AppendEncode(s.sig[:0], s.sum[:])
}

// String implements fmt.Stringer without the key.
func (k *SharedKey) String() string {
	if k == nil {
		return "SharedKey(nil)"
	}
	return "SharedKey(account=" + k.account + ", key=" + Redacted + ")"
}

// GoString implements fmt.GoStringer, for %#v.
func (k *SharedKey) GoString() string { return k.String() }

// Format implements fmt.Formatter, so every verb prints String.
func (k *SharedKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON implements json.Marshaler: the account name only.
func (k *SharedKey) MarshalJSON() ([]byte, error) {
	return []byte(`{"account":` + quoteJSON(k.account) + `,"key":"` + Redacted + `"}`), nil
}

// LogValue implements slog.LogValuer.
func (k *SharedKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", k.account), slog.String("key", Redacted))
}

var (
	_ fmt.Stringer   = (*SharedKey)(nil)
	_ fmt.Formatter  = (*SharedKey)(nil)
	_ slog.LogValuer = (*SharedKey)(nil)
)
