package sas

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAccountNameErrorNeverQuotesALongValue: a value too long for an account
// name may be a key pasted in the wrong place, so its error gives the length
// and never the value.
func TestAccountNameErrorNeverQuotesALongValue(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"", "account name is empty"},
		{"ab", "account name is 2 characters; Azure allows 3 to 24"},
		{exampleKey, "account name is 88 characters; Azure allows 3 to 24"},
		{strings.Repeat("a", 25), "account name is 25 characters; Azure allows 3 to 24"},
		{"My_Storage", "account name may hold only lowercase letters and digits"},
	} {
		k, err := NewSharedKey(tc.name, exampleKey)
		if assert.EqualError(t, err, tc.want, "NewSharedKey(%.30q)", tc.name) {
			assert.NotContains(t, err.Error(), exampleKey[:10], "the error quotes the key")
		}
		assert.Nil(t, k, "NewSharedKey(%.30q) returned a key with its error", tc.name)
	}
}
