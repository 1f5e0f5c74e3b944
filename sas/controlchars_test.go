package sas

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsignedStringToSign builds the string-to-sign of v as the signing code
// does, without the checks, to show what a control character would do.
func unsignedStringToSign(t *testing.T, key *SharedKey, v ServiceValues) string {
	t.Helper()
	info, err := lookupVersion(v.Version)
	require.NoError(t, err)
	tmpl := template{kind: KindService, info: info, resource: v.deriveResource(), v: &v}
	tmpl.spLen = uint8(len(v.Permissions.appendTo(tmpl.sp[:0])))
	f := tokenFields{account: key.account, container: v.Container, blob: v.Blob, se: appendTime(nil, v.Expiry)}
	if !v.Start.IsZero() {
		f.st = appendTime(nil, v.Start)
	}
	return string(appendStringToSign(nil, &tmpl, &f))
}

// TestControlCharactersWouldMakeTwoTokensOneAndAreRefused: the fields of a
// string-to-sign are joined by '\n', so a newline in one value shifts the
// rest. A token for the blob "x.jpg\nmypolicy" without a stored policy and
// a token for the blob "x.jpg" under the policy "mypolicy\n" would have the
// same string-to-sign, hence the same signature: whoever was handed one
// would hold the other. Both are refused, in every signing entry point.
func TestControlCharactersWouldMakeTwoTokensOneAndAreRefused(t *testing.T) {
	key := devKey(t)
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	noPolicy := ServiceValues{Version: VersionLatest, Permissions: PermRead, Expiry: expiry,
		Container: "photos", Blob: "x.jpg\nmypolicy"}
	withPolicy := ServiceValues{Version: VersionLatest, Permissions: PermRead, Expiry: expiry,
		Container: "photos", Blob: "x.jpg", Identifier: "mypolicy\n"}
	require.NotEqual(t, noPolicy.Blob, withPolicy.Blob)
	require.Equal(t, unsignedStringToSign(t, key, noPolicy), unsignedStringToSign(t, key, withPolicy),
		"the two inputs must collide for this test to mean anything")

	_, err := noPolicy.Sign(key)
	assert.EqualError(t, err, "blob name has a control character")
	_, err = withPolicy.Sign(key)
	assert.EqualError(t, err, "stored access policy (si) has a control character")

	// The same collision in the response header overrides, last fields of
	// the layout.
	a := ServiceValues{Version: VersionLatest, Permissions: PermRead, Expiry: expiry, Container: "photos", Blob: "x.jpg",
		CacheControl: "no-store\ninline"}
	b := ServiceValues{Version: VersionLatest, Permissions: PermRead, Expiry: expiry, Container: "photos", Blob: "x.jpg",
		CacheControl: "no-store", ContentDisposition: "inline", ContentType: "\n"}
	require.Equal(t, unsignedStringToSign(t, key, a), unsignedStringToSign(t, key, b))
	_, err = a.Sign(key)
	assert.EqualError(t, err, "cache control (rscc) has a control character")
	_, err = b.Sign(key)
	assert.EqualError(t, err, "content type (rsct) has a control character")
}

// TestEverySignedTextFieldRefusesControlCharacters: C0 controls, DEL and
// C1 controls (U+0080 to U+009F; U+0085 is a newline to some readers) in
// any field signed as free text are refused, naming the field and not
// quoting the value; the characters around them are fine.
func TestEverySignedTextFieldRefusesControlCharacters(t *testing.T) {
	key := devKey(t)
	base := func() ServiceValues {
		return ServiceValues{Version: VersionLatest, Permissions: PermRead, Container: "photos", Blob: "x.jpg",
			Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	fields := []struct {
		field string
		set   func(v *ServiceValues, s string)
	}{
		{"blob name", func(v *ServiceValues, s string) { v.Blob = "a" + s + "b" }},
		{"stored access policy (si)", func(v *ServiceValues, s string) { v.Identifier = "p" + s }},
		{"encryption scope (ses)", func(v *ServiceValues, s string) { v.EncryptionScope = "scope" + s }},
		{"cache control (rscc)", func(v *ServiceValues, s string) { v.CacheControl = "max-age=60" + s }},
		{"content disposition (rscd)", func(v *ServiceValues, s string) { v.ContentDisposition = "attachment" + s }},
		{"content encoding (rsce)", func(v *ServiceValues, s string) { v.ContentEncoding = "gzip" + s }},
		{"content language (rscl)", func(v *ServiceValues, s string) { v.ContentLanguage = "en" + s }},
		{"content type (rsct)", func(v *ServiceValues, s string) { v.ContentType = "image/png" + s }},
	}
	for _, f := range fields {
		for _, bad := range []string{"\n", "\r", "\x00", "\t", "\x1f", "\x7f", "\u0085", "\u0080", "\u009f"} {
			v := base()
			f.set(&v, bad)
			_, err := v.Sign(key)
			assert.EqualError(t, err, f.field+" has a control character", "%s with %U", f.field, []rune(bad)[0])
		}
		// Just outside the control ranges: accepted.
		for _, fine := range []string{" ", "~", "\u00a0", "é"} {
			v := base()
			f.set(&v, fine)
			_, err := v.Sign(key)
			assert.NoError(t, err, "%s with %U", f.field, []rune(fine)[0])
		}
	}

	// The user-delegation fields, checked on the same path.
	for _, f := range []struct {
		field string
		set   func(v *ServiceValues)
	}{
		{"authorized object id (saoid)", func(v *ServiceValues) { v.AuthorizedObjectID = "oid\n" }},
		{"unauthorized object id (suoid)", func(v *ServiceValues) { v.UnauthorizedObjectID = "oid\n" }},
		{"correlation id (scid)", func(v *ServiceValues) { v.CorrelationID = "id\n" }},
		{"delegated user object id (sduoid)", func(v *ServiceValues) { v.DelegatedUserObjectID = "oid\n" }},
	} {
		v := base()
		f.set(&v)
		_, err := v.check()
		assert.EqualError(t, err, f.field+" has a control character")
	}

	// A Signer checks each blob name it is asked for.
	s, err := NewSigner(key, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	require.NoError(t, err)
	_, err = s.Token("x.jpg\nmypolicy")
	assert.EqualError(t, err, "blob name has a control character")
	assert.Zero(t, s.Stats().Entries, "a refused name leaves nothing in the cache")
}

// TestUserDelegationKeyFieldsRefuseControlCharacters: the key's own fields
// are signed as text too (skoid, sktid, sks, skdutid).
func TestUserDelegationKeyFieldsRefuseControlCharacters(t *testing.T) {
	base := func() UserDelegationKey {
		return UserDelegationKey{
			SignedOID: "oid", SignedTID: "tid", SignedService: "b", SignedVersion: VersionLatest,
			SignedStart: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), SignedExpiry: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
			Value: exampleKey,
		}
	}
	_, err := NewDelegationKey("myaccount", base())
	require.NoError(t, err, "the key without control characters")
	for name, set := range map[string]func(k *UserDelegationKey){
		"skoid":   func(k *UserDelegationKey) { k.SignedOID += "\n" },
		"sktid":   func(k *UserDelegationKey) { k.SignedTID += "\r" },
		"sks":     func(k *UserDelegationKey) { k.SignedService += "\u0085" },
		"skdutid": func(k *UserDelegationKey) { k.SignedDelegatedUserTenantID = "tenant\x00" },
	} {
		k := base()
		set(&k)
		_, err := NewDelegationKey("myaccount", k)
		assert.EqualError(t, err, "user delegation key: a signed field has a control character", name)
	}
}
