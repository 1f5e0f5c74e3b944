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
// quoting the value; the characters around them are fine, or, in the IP
// range, left to the address parser that runs after the control check.
func TestEverySignedTextFieldRefusesControlCharacters(t *testing.T) {
	key := devKey(t)
	base := func() ServiceValues {
		return ServiceValues{Version: VersionLatest, Permissions: PermRead, Container: "photos", Blob: "x.jpg",
			Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	const snapshotTime = "2024-01-02T03:04:05.1234567Z"
	fields := []struct {
		field string
		set   func(v *ServiceValues, s string)
		// fineErr is the error for the characters just outside the control
		// ranges: empty where they are accepted.
		fineErr string
	}{
		{field: "blob name", set: func(v *ServiceValues, s string) { v.Blob = "a" + s + "b" }},
		{field: "stored access policy (si)", set: func(v *ServiceValues, s string) { v.Identifier = "p" + s }},
		{field: "IP range (sip)", set: func(v *ServiceValues, s string) { v.IPRange = "168.1.5.60" + s },
			fineErr: errBadIPRange.Error()},
		{field: "snapshot", set: func(v *ServiceValues, s string) { v.Snapshot = snapshotTime + s }},
		{field: "version id", set: func(v *ServiceValues, s string) { v.VersionID = snapshotTime + s }},
		{field: "encryption scope (ses)", set: func(v *ServiceValues, s string) { v.EncryptionScope = "scope" + s }},
		{field: "cache control (rscc)", set: func(v *ServiceValues, s string) { v.CacheControl = "max-age=60" + s }},
		{field: "content disposition (rscd)", set: func(v *ServiceValues, s string) { v.ContentDisposition = "attachment" + s }},
		{field: "content encoding (rsce)", set: func(v *ServiceValues, s string) { v.ContentEncoding = "gzip" + s }},
		{field: "content language (rscl)", set: func(v *ServiceValues, s string) { v.ContentLanguage = "en" + s }},
		{field: "content type (rsct)", set: func(v *ServiceValues, s string) { v.ContentType = "image/png" + s }},
	}
	for _, f := range fields {
		refusesControlCharacters(t, f.field, f.fineErr, func(s string) error {
			v := base()
			f.set(&v, s)
			_, err := v.Sign(key)
			return err
		})
	}

	// The account SAS signs two free-text fields; its other fields are a
	// known version, letter sets, an enumerated protocol and times.
	account := func() AccountValues {
		return AccountValues{Version: VersionLatest, Services: ServiceBlob, ResourceTypes: ResourceTypeObject,
			Permissions: AccountRead, Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	for _, f := range []struct {
		field   string
		set     func(v *AccountValues, s string)
		fineErr string
	}{
		{field: "IP range (sip)", set: func(v *AccountValues, s string) { v.IPRange = "168.1.5.60" + s },
			fineErr: errBadIPRange.Error()},
		{field: "encryption scope (ses)", set: func(v *AccountValues, s string) { v.EncryptionScope = "scope" + s }},
	} {
		refusesControlCharacters(t, f.field, f.fineErr, func(s string) error {
			v := account()
			f.set(&v, s)
			_, err := v.Sign(key)
			return err
		})
	}

	// The user-delegation fields, checked on the same path.
	for _, f := range []struct {
		field string
		set   func(v *ServiceValues, s string)
	}{
		{"authorized object id (saoid)", func(v *ServiceValues, s string) { v.AuthorizedObjectID = "oid" + s }},
		{"unauthorized object id (suoid)", func(v *ServiceValues, s string) { v.UnauthorizedObjectID = "oid" + s }},
		{"correlation id (scid)", func(v *ServiceValues, s string) { v.CorrelationID = "id" + s }},
		{"delegated user object id (sduoid)", func(v *ServiceValues, s string) { v.DelegatedUserObjectID = "oid" + s }},
	} {
		refusesControlCharacters(t, f.field, "", func(s string) error {
			v := base()
			f.set(&v, s)
			_, err := v.check()
			return err
		})
	}

	// A Signer checks each blob name it is asked for.
	s, err := NewSigner(key, ServiceValues{Permissions: PermRead, Container: "photos"}, SignerOptions{TTL: time.Hour})
	require.NoError(t, err)
	_, err = s.Token("photos", "x.jpg\nmypolicy")
	assert.EqualError(t, err, "blob name has a control character")
	assert.Zero(t, s.Stats().Entries, "a refused name leaves nothing in the cache")
}

// refusesControlCharacters checks one field through sign, which signs with
// its argument appended to the field's value: fine without it, refused
// naming the field with each control character, and just outside the
// control ranges accepted, or refused by the field's own parser (fineErr)
// rather than as a control character.
func refusesControlCharacters(t *testing.T, field, fineErr string, sign func(extra string) error) {
	t.Helper()
	require.NoError(t, sign(""), "%s without a control character", field)
	for _, bad := range []string{"\n", "\r", "\x00", "\t", "\x1f", "\x7f", "\u0085", "\u0080", "\u009f"} {
		assert.EqualError(t, sign(bad), field+" has a control character", "%s with %U", field, []rune(bad)[0])
	}
	for _, fine := range []string{" ", "~", "\u00a0", "é"} {
		if err := sign(fine); fineErr == "" {
			assert.NoError(t, err, "%s with %U", field, []rune(fine)[0])
		} else {
			assert.EqualError(t, err, fineErr, "%s with %U", field, []rune(fine)[0])
		}
	}
}

// TestUserDelegationKeyFieldsRefuseControlCharacters: the key's own fields
// are signed as text too (skoid, sktid, sks, skdutid).
func TestUserDelegationKeyFieldsRefuseControlCharacters(t *testing.T) {
	base := func() DelegationKeyInfo {
		return DelegationKeyInfo{
			SignedOID: "oid", SignedTID: "tid", SignedService: "b", SignedVersion: VersionLatest,
			SignedStart: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), SignedExpiry: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
			Value: exampleKey,
		}
	}
	_, err := NewDelegationKey("myaccount", base())
	require.NoError(t, err, "the key without control characters")
	for name, set := range map[string]func(k *DelegationKeyInfo){
		"skoid":   func(k *DelegationKeyInfo) { k.SignedOID += "\n" },
		"sktid":   func(k *DelegationKeyInfo) { k.SignedTID += "\r" },
		"sks":     func(k *DelegationKeyInfo) { k.SignedService += "\u0085" },
		"skdutid": func(k *DelegationKeyInfo) { k.SignedDelegatedUserTenantID = "tenant\x00" },
	} {
		k := base()
		set(&k)
		_, err := NewDelegationKey("myaccount", k)
		assert.EqualError(t, err, "user delegation key: a signed field has a control character", name)
	}
}
