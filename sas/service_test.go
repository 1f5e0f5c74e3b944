package sas

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackslashSignsAsSlash: Azure reads '\' in a blob name as '/', and
// signs it so; a token for a\b.txt is the token for a/b.txt.
func TestBackslashSignsAsSlash(t *testing.T) {
	key := devKey(t)
	sign := func(name string) Token {
		t.Helper()
		v := ServiceValues{Version: VersionLatest, Permissions: PermRead, Container: "photos", Blob: name, Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		q, err := v.Sign(key)
		require.NoError(t, err, "Sign(%q)", name)
		return q
	}
	backslash, slash := sign(`a\b.txt`), sign("a/b.txt")
	assert.Equal(t, slash.Encode(), backslash.Encode(), `a\b.txt and a/b.txt sign differently; Azure reads both as a/b.txt`)
	tok := parseToken(t, backslash)
	assertVerifies(t, tok, "photos", "a/b.txt")
	assertDoesNotVerify(t, tok, "photos", "a_b.txt")
}

// TestVersionSASNeeds20191212: sr=bv is signed from 2019-12-12 on; an older
// version is refused with the field and the version named.
func TestVersionSASNeeds20191212(t *testing.T) {
	key := devKey(t)
	const versionID = "2024-01-01T00:00:00.0000000Z"
	values := func(version string) ServiceValues {
		return ServiceValues{Version: version, Permissions: PermRead, Container: "photos", Blob: "b", VersionID: versionID, Expiry: time.Now().Add(time.Hour)}
	}
	for _, version := range []string{"2019-07-07", "2019-10-10"} {
		v := values(version)
		q, err := v.Sign(key)
		assert.EqualError(t, err, "a version SAS (sr=bv) needs signed version 2019-12-12 or later, not "+version)
		assert.True(t, q.IsZero(), "sr=bv at %s returned a token with its error", version)
	}

	v := values("2019-12-12")
	q, err := v.Sign(key)
	require.NoError(t, err, "sr=bv at 2019-12-12")
	tok := parseToken(t, q)
	assert.Equal(t, "2019-12-12", tok.Version)
	assert.Equal(t, ResourceVersion, tok.Resource)
	assert.NoError(t, tok.VerifyService(key, "photos", "b", versionID), "the token does not verify for its version")
	assert.ErrorContains(t, tok.VerifyService(key, "photos", "b", "2024-01-02T00:00:00.0000000Z"), "SAS signature does not match",
		"the token also verifies for another version")
}
