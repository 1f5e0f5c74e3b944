package sas

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDelegationKey is a user delegation key as Azure would return it.
var testDelegationKey = DelegationKeyInfo{
	SignedOID: "6d1e2c3b-1111-2222-3333-444455556666", SignedTID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
	SignedStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SignedExpiry: time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC),
	SignedService: "b", SignedVersion: "2026-06-06",
	Value: "kB9p0lTbB6QbQm4yZ2b0d3Y7c4l1dXl8a3JvbWFua2V5dmFsdWUxMjM0NTY3OA==",
}

// answerDelegationKey stands in for Get User Delegation Key: it answers
// every request with k, in the XML Azure sends.
type answerDelegationKey struct{ k DelegationKeyInfo }

func (a answerDelegationKey) Do(req *http.Request) (*http.Response, error) {
	k := a.k
	tenant := ""
	if k.SignedDelegatedUserTenantID != "" {
		tenant = "<SignedDelegatedUserTid>" + k.SignedDelegatedUserTenantID + "</SignedDelegatedUserTid>"
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><DelegationKeyInfo><SignedOid>%s</SignedOid><SignedTid>%s</SignedTid>`+
		`<SignedStart>%s</SignedStart><SignedExpiry>%s</SignedExpiry><SignedService>%s</SignedService><SignedVersion>%s</SignedVersion>%s<Value>%s</Value></DelegationKeyInfo>`,
		k.SignedOID, k.SignedTID, k.SignedStart.Format(time.RFC3339), k.SignedExpiry.Format(time.RFC3339), k.SignedService, k.SignedVersion, tenant, k.Value)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/xml"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// sdkDelegationCredential gets the Azure SDK's user delegation credential
// for k the way a program does, from Get User Delegation Key.
func sdkDelegationCredential(t *testing.T, k DelegationKeyInfo) *azsas.UserDelegationCredential {
	t.Helper()
	client, err := service.NewClientWithNoCredential("https://"+DevAccountName+".blob.core.windows.net/", &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: answerDelegationKey{k}, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	require.NoError(t, err)
	start, expiry := k.SignedStart.Format(time.RFC3339), k.SignedExpiry.Format(time.RFC3339)
	cred, err := client.GetUserDelegationCredential(context.Background(), service.KeyInfo{Start: &start, Expiry: &expiry}, nil)
	require.NoError(t, err)
	return cred
}

// TestSignWithUserDelegationMatchesSDK signs user-delegation SAS tokens of
// the newest layout (the only one the SDK signs) with this package and with
// the Azure SDK for Go, and compares every query parameter.
func TestSignWithUserDelegationMatchesSDK(t *testing.T) {
	withTenant := testDelegationKey
	withTenant.SignedDelegatedUserTenantID = "11111111-2222-3333-4444-555555555555"
	expiry := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  DelegationKeyInfo
		v    ServiceValues
	}{
		{"blob read", testDelegationKey, ServiceValues{Container: "photos", Blob: "2024/cat 1+x.jpg", Permissions: PermRead, Expiry: expiry}},
		{"container read list, start, https, ip", testDelegationKey, ServiceValues{Resource: ResourceContainer, Container: "photos",
			Permissions: PermRead | PermList, Start: expiry.Add(-time.Hour), Expiry: expiry, Protocol: ProtocolHTTPS, IPRange: "10.0.0.1-10.0.0.9"}},
		{"overrides and scope", testDelegationKey, ServiceValues{Container: "media", Blob: "clip.mp4", Permissions: PermRead, Expiry: expiry,
			CacheControl: "public, max-age=60", ContentDisposition: "attachment", ContentEncoding: "gzip", ContentLanguage: "fr",
			ContentType: "video/mp4", EncryptionScope: "scope1"}},
		{"agent and correlation", testDelegationKey, ServiceValues{Container: "media", Blob: "a", Permissions: PermRead | PermWrite | PermCreate,
			Expiry: expiry, AuthorizedObjectID: "aaaaaaaa-0000-0000-0000-000000000001", CorrelationID: "run-42"}},
		{"unauthorized agent", testDelegationKey, ServiceValues{Container: "media", Blob: "b", Permissions: PermRead,
			Expiry: expiry, UnauthorizedObjectID: "aaaaaaaa-0000-0000-0000-000000000002"}},
		{"delegated user", withTenant, ServiceValues{Container: "media", Blob: "c", Permissions: PermRead, Expiry: expiry,
			DelegatedUserObjectID: "bbbbbbbb-0000-0000-0000-000000000003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDelegationKey(DevAccountName, tc.key)
			require.NoError(t, err)
			ours := tc.v
			ours.Version = VersionLatest
			q, err := ours.SignWithUserDelegation(d)
			require.NoError(t, err)
			theirs := azsas.BlobSignatureValues{
				Version: VersionLatest, Protocol: azsas.Protocol(ours.Protocol), StartTime: ours.Start, ExpiryTime: ours.Expiry,
				Permissions: ours.Permissions.String(), ContainerName: ours.Container, BlobName: ours.Blob,
				CacheControl: ours.CacheControl, ContentDisposition: ours.ContentDisposition, ContentEncoding: ours.ContentEncoding,
				ContentLanguage: ours.ContentLanguage, ContentType: ours.ContentType, EncryptionScope: ours.EncryptionScope,
				AuthorizedObjectID: ours.AuthorizedObjectID, UnauthorizedObjectID: ours.UnauthorizedObjectID,
				CorrelationID: ours.CorrelationID, SignedDelegatedUserObjectID: ours.DelegatedUserObjectID,
			}
			if first, last, ok := strings.Cut(ours.IPRange, "-"); ok {
				theirs.IPRange = azsas.IPRange{Start: net.ParseIP(first), End: net.ParseIP(last)}
			}
			want, err := theirs.SignWithUserDelegation(sdkDelegationCredential(t, tc.key))
			require.NoError(t, err)
			got, err := url.ParseQuery(q.Encode())
			require.NoError(t, err, "our token")
			sdk, err := url.ParseQuery(want.Encode())
			require.NoError(t, err, "the SDK's token")
			require.NotEmpty(t, sdk.Get("sig"))
			// Every parameter, the signature included, as the SDK sends it,
			// and none it does not send.
			assert.Equal(t, sdk, got)
			tok, err := Parse(q.Encode())
			require.NoError(t, err, "Parse")
			assert.Equal(t, KindUserDelegation, tok.Kind)
			assert.Equal(t, tc.key.SignedOID, tok.Delegation["skoid"], "skoid")
			assert.Equal(t, tc.key.SignedTID, tok.Delegation["sktid"], "sktid")
		})
	}
}

func TestSignWithUserDelegationRefuses(t *testing.T) {
	d, err := NewDelegationKey(DevAccountName, testDelegationKey)
	require.NoError(t, err)
	in := testDelegationKey.SignedExpiry.Add(-time.Hour)
	for _, tc := range []struct {
		v    ServiceValues
		want string
	}{
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: testDelegationKey.SignedExpiry.Add(time.Second)}, "a user-delegation SAS cannot expire after its key (ske)"},
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, Identifier: "policy"}, "a user-delegation SAS cannot name a stored access policy (si)"},
		{ServiceValues{Container: "photos", Blob: "a", Expiry: in}, "permissions (sp) are required"},
		{ServiceValues{Version: "2018-03-28", Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in}, "a user-delegation SAS needs version 2018-11-09 or later, not 2018-03-28"},
		{ServiceValues{Version: "2019-12-12", Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, CorrelationID: "x"}, "saoid, suoid and scid need version 2020-02-10 or later"},
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, AuthorizedObjectID: "a", UnauthorizedObjectID: "b"}, "a user-delegation SAS names saoid or suoid, not both"},
	} {
		q, err := tc.v.SignWithUserDelegation(d)
		assert.ErrorContains(t, err, tc.want, "%+v", tc.v)
		assert.Zero(t, q, "%+v: a token came back with the error", tc.v)
	}
	_, err = (&ServiceValues{Container: "photos", Permissions: PermRead, Expiry: in, CorrelationID: "x"}).Sign(devKey(t))
	assert.EqualError(t, err, "saoid, suoid, scid and sduoid belong to a user-delegation SAS: sign with SignWithUserDelegation",
		"a shared-key SAS took a user-delegation field")
	bad := testDelegationKey
	bad.Value = "not base64!"
	badKey, err := NewDelegationKey(DevAccountName, bad)
	assert.Nil(t, badKey, "bad key value")
	if assert.EqualError(t, err, "user delegation key: the value is not valid base64", "bad key value") {
		assert.NotContains(t, err.Error(), bad.Value, "the error quotes the bad key value")
	}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%#v", d), fmt.Sprintf("%+v", d)} {
		assert.NotContains(t, s, testDelegationKey.Value[:12], "the key's value is printed")
		assert.Contains(t, s, "key=REDACTED")
	}
}

func TestUserDelegationKeyXML(t *testing.T) {
	body := UserDelegationKeyRequest(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "")
	assert.Equal(t, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<KeyInfo><Start>2026-01-01T00:00:00Z</Start><Expiry>2026-01-02T00:00:00Z</Expiry></KeyInfo>`,
		string(body), "request body")
	answer, err := answerDelegationKey{testDelegationKey}.Do(nil)
	require.NoError(t, err)
	raw, err := io.ReadAll(answer.Body)
	require.NoError(t, err)
	k, err := ParseUserDelegationKey(raw)
	require.NoError(t, err)
	assert.Equal(t, testDelegationKey, k)
	for _, tc := range []struct{ bad, want string }{
		{"not xml " + testDelegationKey.Value, "user delegation key: the answer is not the XML Azure sends"},
		{strings.Replace(string(raw), "<SignedStart>2026-01-01T00:00:00Z", "<SignedStart>"+testDelegationKey.Value, 1), "user delegation key: SignedStart is not a time"},
		{strings.Replace(string(raw), "<SignedOid>"+testDelegationKey.SignedOID, "<SignedOid>", 1), "user delegation key: the answer lacks the key, the object ID or the tenant ID"},
	} {
		k, err := ParseUserDelegationKey([]byte(tc.bad))
		if assert.EqualError(t, err, tc.want, "%.40q", tc.bad) {
			assert.NotContains(t, err.Error(), testDelegationKey.Value[:12], "%.40q: the error quotes the key", tc.bad)
		}
		assert.Zero(t, k, "%.40q: a key came back with the error", tc.bad)
	}
}

// TestUserDelegationKnownAnswer pins one signature the Azure SDK for Go
// (azblob v1.8.3) made, so a change on either side shows.
func TestUserDelegationKnownAnswer(t *testing.T) {
	d, err := NewDelegationKey(DevAccountName, testDelegationKey)
	require.NoError(t, err)
	v := ServiceValues{Version: "2026-12-06", Container: "photos", Blob: "2024/cat 1+x.jpg", Permissions: PermRead,
		Expiry: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	q, err := v.SignWithUserDelegation(d)
	require.NoError(t, err)
	got, err := url.ParseQuery(q.Encode())
	require.NoError(t, err)
	assert.Equal(t, "7R5+gdtuF0fRfr/qLwxM9f+1WFu9exrnHoPLdFf7yYE=", got.Get("sig"))
}

// TestDelegationSigner shows a user-delegation signer's tokens never outlive
// their key, that it signs with the key its source hands out now, and that
// it refuses to sign once the key has expired.
func TestDelegationSigner(t *testing.T) {
	now := testDelegationKey.SignedExpiry.Add(-90 * time.Minute)
	clock := func() time.Time { return now }
	first, err := NewDelegationKey(DevAccountName, testDelegationKey)
	require.NoError(t, err)
	next := testDelegationKey
	next.SignedStart, next.SignedExpiry = next.SignedExpiry.Add(-2*time.Hour), next.SignedExpiry.Add(5*24*time.Hour)
	second, err := NewDelegationKey(DevAccountName, next)
	require.NoError(t, err)
	current := first
	s, err := NewDelegationSigner(func() (*DelegationKey, error) { return current, nil },
		ServiceValues{Container: "photos", Permissions: PermRead}, SignerOptions{TTL: time.Hour, Now: clock})
	require.NoError(t, err)
	q, err := s.Token("photos", "a.jpg")
	require.NoError(t, err)
	assert.Equal(t, now.Add(time.Hour), q.Expiry(), "want the ttl")
	assert.Equal(t, testDelegationKey.SignedExpiry.Format(time.RFC3339), queryParams(t, q).Get("ske"), "signed with the first key")

	now = now.Add(50 * time.Minute) // 40 minutes left on the key: less than the ttl
	q, err = s.Token("photos", "b.jpg")
	require.NoError(t, err)
	assert.Equal(t, testDelegationKey.SignedExpiry, q.Expiry(), "want the key's expiry")
	assert.Equal(t, testDelegationKey.SignedExpiry.Format(time.RFC3339), queryParams(t, q).Get("se"), "se as written")

	current = second
	q, err = s.Token("photos", "c.jpg")
	require.NoError(t, err, "after the key was renewed")
	assert.Equal(t, next.SignedExpiry.Format(time.RFC3339), queryParams(t, q).Get("ske"), "after the key was renewed: not signed with the new key")
	assert.Equal(t, now.Add(time.Hour), q.Expiry(), "after the key was renewed: want the ttl again")

	current = first
	now = testDelegationKey.SignedExpiry
	q, err = s.Token("photos", "d.jpg")
	assert.EqualError(t, err, "the user delegation key has expired", "signing with an expired key")
	assert.Zero(t, q, "signing with an expired key returned a token")

	policy, err := NewDelegationSigner(func() (*DelegationKey, error) { return first, nil },
		ServiceValues{Container: "photos", Permissions: PermRead, Identifier: "policy"}, SignerOptions{TTL: time.Hour})
	assert.EqualError(t, err, "a user-delegation SAS cannot name a stored access policy (si)", "a user-delegation signer took a stored policy")
	assert.Nil(t, policy)
	noKeys, err := NewDelegationSigner(nil, ServiceValues{Container: "photos", Permissions: PermRead}, SignerOptions{TTL: time.Hour})
	assert.EqualError(t, err, "no user delegation key source to sign with")
	assert.Nil(t, noKeys)
}

// TestDelegationSignerWithHeaders: a user-delegation signer signs a call's
// response headers as SignWithUserDelegation signs the same values.
func TestDelegationSignerWithHeaders(t *testing.T) {
	now := testDelegationKey.SignedExpiry.Add(-3 * time.Hour)
	d, err := NewDelegationKey(DevAccountName, testDelegationKey)
	require.NoError(t, err)
	s, err := NewDelegationSigner(func() (*DelegationKey, error) { return d, nil },
		ServiceValues{Container: "uploads", Permissions: PermRead, Protocol: ProtocolHTTPS}, SignerOptions{TTL: time.Hour, Now: func() time.Time { return now }})
	require.NoError(t, err)
	h := ResponseHeaders{ContentType: "image/png", ContentDisposition: "inline", CacheControl: "private, max-age=300"}
	got, err := s.TokenWithHeaders("uploads", "users/a/cat.png", h)
	require.NoError(t, err)
	want, err := (&ServiceValues{Container: "uploads", Blob: "users/a/cat.png", Permissions: PermRead, Protocol: ProtocolHTTPS,
		Expiry: now.Add(time.Hour), ContentType: h.ContentType, ContentDisposition: h.ContentDisposition, CacheControl: h.CacheControl}).SignWithUserDelegation(d)
	require.NoError(t, err)
	assert.Equal(t, want.Encode(), got.Encode(), "the signer's token with headers")
}
