package caddymodule

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// staticToken is an Entra ID credential that always has the same token.
type staticToken struct{ calls atomic.Int64 }

func (s *staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.calls.Add(1)
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// delegationKeyService answers Get User Delegation Key as Azure documents
// it: a key for exactly the times asked, for a bearer token; failing makes
// it answer 403 AuthorizationPermissionMismatch instead.
type delegationKeyService struct {
	*httptest.Server
	asked   atomic.Int64
	failing atomic.Bool
}

func newDelegationKeyService(t *testing.T) *delegationKeyService {
	s := new(delegationKeyService)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.asked.Add(1)
		if r.Method != http.MethodPost || r.URL.Query().Get("comp") != "userdelegationkey" || r.Header.Get("Authorization") != "Bearer entra-token" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if s.failing.Load() {
			w.Header().Set("x-ms-error-code", "AuthorizationPermissionMismatch")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		var info struct{ Start, Expiry string }
		body, _ := io.ReadAll(r.Body)
		if err := xml.Unmarshal(body, &info); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>oid</SignedOid><SignedTid>tid</SignedTid>`+
			`<SignedStart>%s</SignedStart><SignedExpiry>%s</SignedExpiry><SignedService>b</SignedService><SignedVersion>%s</SignedVersion>`+
			`<Value>c2VjcmV0IGRlbGVnYXRpb24ga2V5IHZhbHVlIDEyMzQ1Njc=</Value></UserDelegationKey>`, info.Start, info.Expiry, sas.DefaultVersion)
	}))
	t.Cleanup(s.Close)
	return s
}

// poll is how often the keyring tests look again: the limits they wait
// with are bounds, not timings the tests assert.
const poll = 50 * time.Millisecond

// TestKeyringRenewsOnceAndServesThroughFailures runs a keyring with 3-second
// keys: it renews each with one request before it expires; when renewal
// fails it keeps the valid key, retries with backoff, logs and counts;
// past the key's expiry it refuses to sign; and it recovers by itself.
func TestKeyringRenewsOnceAndServesThroughFailures(t *testing.T) {
	svc := newDelegationKeyService(t)
	cred := new(staticToken)
	core, logs := observer.New(zap.ErrorLevel)
	k, err := startKeyring(cred, svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", 3*time.Second, zap.New(core))
	require.NoError(t, err)
	defer k.Destruct()
	first, err := k.key()
	require.NoError(t, err, "first key")
	require.Equal(t, int64(1), svc.asked.Load(), "requests for the first key")
	// Renewed before it expires, with one request: no key() call in
	// between fails.
	var gap atomic.Bool
	require.Eventually(t, func() bool {
		d, err := k.key()
		if err != nil {
			gap.Store(true)
		}
		return err == nil && d != first
	}, 10*time.Second, poll, "the key was not renewed")
	assert.False(t, gap.Load(), "the first key expired before it was renewed")
	assert.Equal(t, int64(2), svc.asked.Load(), "requests for two keys")
	second, err := k.key()
	require.NoError(t, err, "renewed key")
	assert.Greater(t, second.Expiry(), first.Expiry(), "the renewed key expires no later than the first")

	// Azure refuses: the held key serves on, failures are logged and counted.
	svc.failing.Store(true)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, k.failures.Load(), uint64(1), "failures counted")
	}, 10*time.Second, poll)
	// The first renewal fails with a quarter of the key's life left: the
	// held key serves on.
	held, err := k.key()
	if assert.NoError(t, err, "the held key after a failed renewal") {
		assert.Same(t, second, held, "the held key after a failed renewal")
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, k.failures.Load(), uint64(2), "failures counted")
	}, 10*time.Second, poll)
	const failed = "renewing the user delegation key failed; the current one serves until it expires"
	failures := logs.FilterMessage(failed).All()
	require.GreaterOrEqual(t, len(failures), 2, "failures not logged: %v", logs.All())
	// With backoff: the retry waits double.
	assert.Equal(t, time.Second, failures[0].ContextMap()["retry_in"], "first retry")
	assert.Equal(t, 2*time.Second, failures[1].ContextMap()["retry_in"], "second retry")
	for _, e := range logs.All() {
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), "c2VjcmV0", "a log line holds the key")
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), "entra-token", "a log line holds the token")
	}
	require.Eventually(t, func() bool { _, err := k.key(); return err != nil }, 10*time.Second, poll,
		"an expired key was still handed out")
	_, err = k.key()
	assert.ErrorContains(t, err, "expired", "past expiry")
	// Azure comes back: so does the key, with nothing done.
	svc.failing.Store(false)
	require.Eventually(t, func() bool { _, err := k.key(); return err == nil }, 10*time.Second, poll, "no recovery")
}

// TestKeyringRefreshesWhenAsked: a refused token asks for a new key at once
// (the keys may have been revoked), at most once a minute.
func TestKeyringRefreshesWhenAsked(t *testing.T) {
	svc := newDelegationKeyService(t)
	k, err := startKeyring(new(staticToken), svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", time.Hour, zap.NewNop())
	require.NoError(t, err)
	first, err := k.key()
	require.NoError(t, err, "first key")
	k.refresh() // just fetched: too soon
	// refresh wakes the renewal through k.wake, buffered: a refresh too soon
	// after a fetch must leave it empty.
	assert.Empty(t, k.wake, "a refresh right after a fetch asked for a key")
	k.last.Store(time.Now().Add(-2 * minRefreshInterval).UnixNano())
	k.refresh()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		d, err := k.key()
		assert.NoError(c, err)
		assert.NotSame(c, first, d, "no new key after a refresh; %d requests", svc.asked.Load())
	}, 5*time.Second, poll)
	assert.Equal(t, int64(2), svc.asked.Load(), "requests, want the first and one refresh")
	require.NoError(t, k.Destruct())
	select {
	case <-k.done:
	default:
		assert.Fail(t, "the renewal goroutine outlived Destruct")
	}
}

func TestKeyringStartErrorsAreClear(t *testing.T) {
	svc := newDelegationKeyService(t)
	svc.failing.Store(true)
	k, err := startKeyring(new(staticToken), svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", time.Hour, zap.NewNop())
	assert.Nil(t, k, "a keyring without a key")
	require.Error(t, err, "start with a refused identity")
	assert.ErrorContains(t, err, "403 AuthorizationPermissionMismatch", "start with a refused identity")
	assert.ErrorContains(t, err, "Storage Blob Delegator", "start with a refused identity")
	assert.NotContains(t, err.Error(), "entra-token", "the error holds the token")
}

// stubEndpoint is the blob endpoint of a stand-in at raw.
func stubEndpoint(t *testing.T, raw string) sas.BlobEndpoint {
	t.Helper()
	e, err := sas.ParseBlobEndpoint(raw)
	require.NoError(t, err)
	return e
}
