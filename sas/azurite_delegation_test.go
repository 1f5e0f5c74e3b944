package sas_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testObjectID = "6d1e2c3b-1111-2222-3333-444455556666"
)

// getDelegationKey asks Azurite for a user delegation key with an Entra ID
// bearer token, as the plugin does with a token from azidentity.
func getDelegationKey(t *testing.T, az *azurite.Server, start, expiry time.Time) sas.DelegationKeyInfo {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, az.Endpoint+"/?restype=service&comp=userdelegationkey",
		bytes.NewReader(sas.UserDelegationKeyRequest(start, expiry, "")))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+azurite.BearerToken(testTenant, testObjectID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour)))
	req.Header.Set("x-ms-version", sas.DefaultVersion)
	resp, err := az.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "Get User Delegation Key: x-ms-error-code %q", resp.Header.Get("x-ms-error-code"))
	k, err := sas.ParseUserDelegationKey(body)
	require.NoError(t, err)
	return k
}

// TestAzuriteUserDelegation reads a private blob from Azurite, run with
// OAuth over HTTPS, with user-delegation tokens signed by this package for
// each version family, and shows the refusals that matter: a token signed
// with a key Azurite did not issue (another tenant, a changed expiry), and
// one past its expiry.
func TestAzuriteUserDelegation(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := bytes.Repeat([]byte("UDSAS"), 100)
	az.Upload(t, "photos", "cat 1.jpg", data, "image/jpeg")
	now := time.Now().UTC().Truncate(time.Second)
	k := getDelegationKey(t, az, now.Add(-time.Minute), now.Add(2*time.Hour))
	require.Equal(t, testObjectID, k.SignedOID, "the key is for another identity")
	require.Equal(t, testTenant, k.SignedTID, "the key is for another tenant")
	d, err := sas.NewDelegationKey(az.Account, k)
	require.NoError(t, err)
	get := func(token string) (int, []byte) {
		t.Helper()
		resp, err := az.HTTPClient().Get(az.BlobURL("photos", "cat 1.jpg") + "?" + token)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, body
	}
	sign := func(d *sas.DelegationKey, v sas.ServiceValues) string {
		t.Helper()
		q, err := v.SignWithUserDelegation(d)
		require.NoError(t, err)
		return q.Encode()
	}
	for _, version := range []string{"2018-11-09", "2020-02-10", "2020-12-06", "2025-07-05", sas.DefaultVersion} {
		token := sign(d, sas.ServiceValues{Version: version, Container: "photos", Blob: "cat 1.jpg", Permissions: sas.PermRead, Expiry: now.Add(time.Hour)})
		status, body := get(token)
		if assert.Equal(t, http.StatusOK, status, "sv=%s: status", version) {
			assert.Equal(t, data, body, "sv=%s: body", version)
		}
	}
	// Azurite 3.37 signs saoid, suoid and scid as empty lines whatever the
	// token says, so it cannot judge them; the SDK comparison does.
	container := sign(d, sas.ServiceValues{Resource: sas.ResourceContainer, Container: "photos", Permissions: sas.PermRead, Expiry: now.Add(time.Hour),
		CacheControl: "no-store"})
	status, body := get(container)
	if assert.Equal(t, http.StatusOK, status, "container token with rscc: status") {
		assert.Equal(t, data, body, "container token with rscc: body")
	}

	for name, key := range map[string]sas.DelegationKeyInfo{
		"another tenant":   func() sas.DelegationKeyInfo { w := k; w.SignedTID = "00000000-0000-0000-0000-000000000000"; return w }(),
		"a longer expiry":  func() sas.DelegationKeyInfo { w := k; w.SignedExpiry = w.SignedExpiry.Add(24 * time.Hour); return w }(),
		"another identity": func() sas.DelegationKeyInfo { w := k; w.SignedOID = "00000000-0000-0000-0000-000000000001"; return w }(),
	} {
		wrong, err := sas.NewDelegationKey(az.Account, key)
		require.NoError(t, err)
		token := sign(wrong, sas.ServiceValues{Container: "photos", Blob: "cat 1.jpg", Permissions: sas.PermRead, Expiry: now.Add(time.Hour)})
		status, _ := get(token)
		assert.Equal(t, http.StatusForbidden, status, "a key with %s", name)
	}
	// A key that has expired: Azurite issues it (its times are in the
	// past), but a token from it is refused.
	old := getDelegationKey(t, az, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	expired, err := sas.NewDelegationKey(az.Account, old)
	require.NoError(t, err)
	token := sign(expired, sas.ServiceValues{Container: "photos", Blob: "cat 1.jpg", Permissions: sas.PermRead, Expiry: old.SignedExpiry})
	status, _ = get(token)
	assert.Equal(t, http.StatusForbidden, status, "a token of an expired key")
}
