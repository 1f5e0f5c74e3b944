package sas

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// testDelegationKey is a user delegation key as Azure would return it.
var testDelegationKey = UserDelegationKey{
	SignedOID: "6d1e2c3b-1111-2222-3333-444455556666", SignedTID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
	SignedStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SignedExpiry: time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC),
	SignedService: "b", SignedVersion: "2026-06-06",
	Value: "kB9p0lTbB6QbQm4yZ2b0d3Y7c4l1dXl8a3JvbWFua2V5dmFsdWUxMjM0NTY3OA==",
}

// answerDelegationKey stands in for Get User Delegation Key: it answers
// every request with k, in the XML Azure sends.
type answerDelegationKey struct{ k UserDelegationKey }

func (a answerDelegationKey) Do(req *http.Request) (*http.Response, error) {
	k := a.k
	tenant := ""
	if k.SignedDelegatedUserTenantID != "" {
		tenant = "<SignedDelegatedUserTid>" + k.SignedDelegatedUserTenantID + "</SignedDelegatedUserTid>"
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>%s</SignedOid><SignedTid>%s</SignedTid>`+
		`<SignedStart>%s</SignedStart><SignedExpiry>%s</SignedExpiry><SignedService>%s</SignedService><SignedVersion>%s</SignedVersion>%s<Value>%s</Value></UserDelegationKey>`,
		k.SignedOID, k.SignedTID, k.SignedStart.Format(time.RFC3339), k.SignedExpiry.Format(time.RFC3339), k.SignedService, k.SignedVersion, tenant, k.Value)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/xml"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// sdkDelegationCredential gets the Azure SDK's user delegation credential
// for k the way a program does, from Get User Delegation Key.
func sdkDelegationCredential(t *testing.T, k UserDelegationKey) *azsas.UserDelegationCredential {
	t.Helper()
	client, err := service.NewClientWithNoCredential("https://"+DevAccountName+".blob.core.windows.net/", &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: answerDelegationKey{k}, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start, expiry := k.SignedStart.Format(time.RFC3339), k.SignedExpiry.Format(time.RFC3339)
	cred, err := client.GetUserDelegationCredential(context.Background(), service.KeyInfo{Start: &start, Expiry: &expiry}, nil)
	if err != nil {
		t.Fatal(err)
	}
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
		key  UserDelegationKey
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
			if err != nil {
				t.Fatal(err)
			}
			ours := tc.v
			ours.Version = VersionLatest
			q, err := ours.SignWithUserDelegation(d)
			if err != nil {
				t.Fatal(err)
			}
			theirs := azsas.BlobSignatureValues{
				Version: VersionLatest, Protocol: azsas.Protocol(ours.Protocol), StartTime: ours.Start, ExpiryTime: ours.Expiry,
				Permissions: ours.Permissions.String(), ContainerName: ours.Container, BlobName: ours.Blob,
				CacheControl: ours.CacheControl, ContentDisposition: ours.ContentDisposition, ContentEncoding: ours.ContentEncoding,
				ContentLanguage: ours.ContentLanguage, ContentType: ours.ContentType, EncryptionScope: ours.EncryptionScope,
				AuthorizedObjectID: ours.AuthorizedObjectID, UnauthorizedObjectID: ours.UnauthorizedObjectID,
				CorrelationID: ours.CorrelationID, SignedDelegatedUserObjectID: ours.DelegatedUserObjectID,
			}
			if first, last, ok := strings.Cut(ours.IPRange, "-"); ok {
				theirs.IPRange = azsas.IPRange{Start: parseIP(first), End: parseIP(last)}
			}
			want, err := theirs.SignWithUserDelegation(sdkDelegationCredential(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := url.ParseQuery(q.Encode())
			sdk, _ := url.ParseQuery(want.Encode())
			for name := range sdk {
				if got.Get(name) != sdk.Get(name) {
					t.Errorf("%s = %q, SDK %q", name, got.Get(name), sdk.Get(name))
				}
			}
			for name := range got {
				if !sdk.Has(name) {
					t.Errorf("%s = %q, which the SDK does not send", name, got.Get(name))
				}
			}
			tok, err := Parse(q.Encode())
			if err != nil || tok.Kind != KindUserDelegation {
				t.Errorf("Parse: kind %v, %v", tok, err)
			}
		})
	}
}

func TestSignWithUserDelegationRefuses(t *testing.T) {
	d, err := NewDelegationKey(DevAccountName, testDelegationKey)
	if err != nil {
		t.Fatal(err)
	}
	in := testDelegationKey.SignedExpiry.Add(-time.Hour)
	for _, tc := range []struct {
		v    ServiceValues
		want string
	}{
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: testDelegationKey.SignedExpiry.Add(time.Second)}, "cannot expire after its key"},
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, Identifier: "policy"}, "stored access policy"},
		{ServiceValues{Container: "photos", Blob: "a", Expiry: in}, "permissions"},
		{ServiceValues{Version: "2018-03-28", Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in}, "2018-11-09 or later"},
		{ServiceValues{Version: "2019-12-12", Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, CorrelationID: "x"}, "2020-02-10"},
		{ServiceValues{Container: "photos", Blob: "a", Permissions: PermRead, Expiry: in, AuthorizedObjectID: "a", UnauthorizedObjectID: "b"}, "not both"},
	} {
		if _, err := tc.v.SignWithUserDelegation(d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.v, err, tc.want)
		}
	}
	if _, err := (&ServiceValues{Container: "photos", Permissions: PermRead, Expiry: in, CorrelationID: "x"}).Sign(devKey(t)); err == nil {
		t.Error("a shared-key SAS took a user-delegation field")
	}
	bad := testDelegationKey
	bad.Value = "not base64!"
	if _, err := NewDelegationKey(DevAccountName, bad); err == nil || strings.Contains(err.Error(), bad.Value) {
		t.Errorf("bad key value: %v", err)
	}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%#v", d), fmt.Sprintf("%+v", d)} {
		if strings.Contains(s, testDelegationKey.Value[:12]) {
			t.Errorf("the key's value is printed: %s", s)
		}
	}
}

func TestUserDelegationKeyXML(t *testing.T) {
	body := UserDelegationKeyRequest(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "")
	if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<KeyInfo><Start>2026-01-01T00:00:00Z</Start><Expiry>2026-01-02T00:00:00Z</Expiry></KeyInfo>`; string(body) != want {
		t.Errorf("request body %s, want %s", body, want)
	}
	answer, _ := answerDelegationKey{testDelegationKey}.Do(nil)
	raw, _ := io.ReadAll(answer.Body)
	k, err := ParseUserDelegationKey(raw)
	if err != nil || k != testDelegationKey {
		t.Errorf("parsed %+v, %v; want %+v", k, err, testDelegationKey)
	}
	for _, bad := range []string{
		"not xml " + testDelegationKey.Value,
		strings.Replace(string(raw), "<SignedStart>2026-01-01T00:00:00Z", "<SignedStart>"+testDelegationKey.Value, 1),
		strings.Replace(string(raw), "<SignedOid>"+testDelegationKey.SignedOID, "<SignedOid>", 1),
	} {
		if _, err := ParseUserDelegationKey([]byte(bad)); err == nil || strings.Contains(err.Error(), testDelegationKey.Value[:12]) {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
}

// TestUserDelegationKnownAnswer pins one signature the Azure SDK for Go
// (azblob v1.8.3) made, so a change on either side shows.
func TestUserDelegationKnownAnswer(t *testing.T) {
	d, err := NewDelegationKey(DevAccountName, testDelegationKey)
	if err != nil {
		t.Fatal(err)
	}
	v := ServiceValues{Version: "2026-12-06", Container: "photos", Blob: "2024/cat 1+x.jpg", Permissions: PermRead,
		Expiry: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	q, err := v.SignWithUserDelegation(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := url.ParseQuery(q.Encode())
	if sig := got.Get("sig"); sig != "7R5+gdtuF0fRfr/qLwxM9f+1WFu9exrnHoPLdFf7yYE=" {
		t.Errorf("sig %s", sig)
	}
}

// TestDelegationSigner shows a user-delegation signer's tokens never outlive
// their key, that it signs with the key its source hands out now, and that
// it refuses to sign once the key has expired.
func TestDelegationSigner(t *testing.T) {
	now := testDelegationKey.SignedExpiry.Add(-90 * time.Minute)
	clock := func() time.Time { return now }
	first, _ := NewDelegationKey(DevAccountName, testDelegationKey)
	next := testDelegationKey
	next.SignedStart, next.SignedExpiry = next.SignedExpiry.Add(-2*time.Hour), next.SignedExpiry.Add(5*24*time.Hour)
	second, _ := NewDelegationKey(DevAccountName, next)
	current := first
	s, err := NewDelegationSigner(func() (*DelegationKey, error) { return current, nil },
		ServiceValues{Container: "photos", Permissions: PermRead}, SignerOptions{TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Token("a.jpg")
	if err != nil || !q.Expiry().Equal(now.Add(time.Hour)) {
		t.Fatalf("token expiry %v, %v; want the ttl", q.Expiry(), err)
	}
	now = now.Add(50 * time.Minute) // 40 minutes left on the key: less than the ttl
	q, err = s.Token("b.jpg")
	if err != nil || !q.Expiry().Equal(testDelegationKey.SignedExpiry) {
		t.Fatalf("token expiry %v, %v; want the key's %v", q.Expiry(), err, testDelegationKey.SignedExpiry)
	}
	current = second
	q, err = s.Token("c.jpg")
	if err != nil || !strings.Contains(q.Encode(), "ske="+url.QueryEscape(next.SignedExpiry.Format(time.RFC3339))) {
		t.Fatalf("after the key was renewed: %v, %s", err, RedactQuery(q.Encode()))
	}
	current = first
	now = testDelegationKey.SignedExpiry
	if _, err := s.Token("d.jpg"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("signing with an expired key: %v", err)
	}
	if _, err := NewDelegationSigner(func() (*DelegationKey, error) { return first, nil },
		ServiceValues{Container: "photos", Permissions: PermRead, Identifier: "policy"}, SignerOptions{TTL: time.Hour}); err == nil {
		t.Error("a user-delegation signer took a stored policy")
	}
}
