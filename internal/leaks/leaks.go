// Package leaks finds secrets in what a test run logged and showed: the
// secrets it was told of (keys, tokens, signatures), in any piece of 12
// characters or more, and anything shaped like a signature or a key. It
// looks at the text as it is and as it decodes: percent-escapes at every
// level, and runs of base64, base64url and hex, so a token escaped three
// times, a signature in base64 or hex, a token logged as bytes
// (zap.Binary) or a signature cut into short fields are found too.
//
// The package is internal to this module, for tests only.
package leaks

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

const (
	// TextWindow is the shortest piece of a known secret's text found:
	// a signature cut into fields of 15 characters still shows one.
	TextWindow = 12
	// byteWindow is the shortest piece of a secret's bytes found (an HMAC,
	// a key) in what decodes from base64 or hex: 8 bytes.
	byteWindow = 8
	// shortestSecret is the shortest secret worth looking for.
	shortestSecret = 16
)

// Search holds the secrets to look for; it is safe for concurrent use.
type Search struct {
	mu     sync.RWMutex
	text   map[string]string // every TextWindow piece of a secret -> what it is
	bytes  map[string]string // every byteWindow piece of its bytes -> what it is
	secret map[string]bool
}

// New returns a Search that knows no secret yet.
func New() *Search {
	return &Search{text: map[string]string{}, bytes: map[string]string{}, secret: map[string]bool{}}
}

// Add makes value one of the secrets nothing may show, named by what. A
// query with a sig (a SAS) adds its signature, the part that is secret.
// A value shorter than 16 characters is too short to look for.
func (s *Search) Add(what, value string) {
	if strings.Contains(value, "sig=") {
		if q, err := url.ParseQuery(value); err == nil && q.Get("sig") != "" {
			value = q.Get("sig")
		}
	}
	if len(value) < shortestSecret {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret[value] {
		return
	}
	s.secret[value] = true
	for i := 0; i+TextWindow <= len(value); i++ {
		s.text[value[i:i+TextWindow]] = what
	}
	// A key or a signature is base64 of bytes, which may leak as such.
	if raw, err := base64.StdEncoding.DecodeString(value); err == nil {
		for i := 0; i+byteWindow <= len(raw); i++ {
			s.bytes[string(raw[i:i+byteWindow])] = what
		}
	}
}

// Known is the number of secrets added.
func (s *Search) Known() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.secret)
}

// Find names what data shows, each once: a known secret (by what it is,
// never its value), a sig parameter with a signature's length, or base64
// shaped like a signature or a key; in data as it is or as it decodes.
func (s *Search) Find(data []byte) []string {
	seen := map[string]bool{}
	var found []string
	note := func(what string) {
		if !seen[what] {
			seen[what] = true
			found = append(found, what)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range views(data) {
		for i := 0; i+TextWindow <= len(v.data); i++ {
			if what, ok := s.text[string(v.data[i:i+TextWindow])]; ok {
				note(v.how + what)
			}
		}
		if v.decoded {
			for i := 0; i+byteWindow <= len(v.data); i++ {
				if what, ok := s.bytes[string(v.data[i:i+byteWindow])]; ok {
					note(v.how + "the bytes of " + what)
				}
			}
		}
		for _, shape := range sigParams(v.data) {
			note(v.how + shape)
		}
		for _, shape := range base64Shapes(v.data) {
			note(v.how + shape)
		}
	}
	return found
}

// String says what the search knows, never a secret.
func (s *Search) String() string {
	return fmt.Sprintf("%d known secrets", s.Known())
}
