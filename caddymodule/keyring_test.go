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

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

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
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><DelegationKeyInfo><SignedOid>oid</SignedOid><SignedTid>tid</SignedTid>`+
			`<SignedStart>%s</SignedStart><SignedExpiry>%s</SignedExpiry><SignedService>b</SignedService><SignedVersion>%s</SignedVersion>`+
			`<Value>c2VjcmV0IGRlbGVnYXRpb24ga2V5IHZhbHVlIDEyMzQ1Njc=</Value></DelegationKeyInfo>`, info.Start, info.Expiry, sas.DefaultVersion)
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
	k := newKeyring(cred, svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", "managed", 3*time.Second, zap.New(core))
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
	// The first failure is logged as a renewal, naming the held key's
	// expiry in RFC 3339; the next may come after the key has expired,
	// and says requests are refused.
	failures := logs.All()
	require.GreaterOrEqual(t, len(failures), 2, "failures not logged: %v", failures)
	assert.Equal(t, "renewing the user delegation key failed; the current one serves until it expires", failures[0].Message)
	expiry, err := time.Parse(time.RFC3339, fmt.Sprint(failures[0].ContextMap()["key_expiry"]))
	if assert.NoError(t, err, "key_expiry is not RFC 3339") {
		assert.Equal(t, second.Expiry().Truncate(time.Second).UTC(), expiry, "key_expiry")
	}
	assert.Equal(t, "managed", failures[0].ContextMap()["identity"], "identity kind")
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
	assert.ErrorContains(t, err, "no valid user delegation key", "past expiry")
	// Azure comes back: so does the key, with nothing done.
	svc.failing.Store(false)
	require.Eventually(t, func() bool { _, err := k.key(); return err == nil }, 10*time.Second, poll, "no recovery")
}

// TestKeyringRefreshesWhenAsked: a refused token asks for a new key at once
// (the keys may have been revoked), at most once a minute.
func TestKeyringRefreshesWhenAsked(t *testing.T) {
	svc := newDelegationKeyService(t)
	k := newKeyring(new(staticToken), svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", "managed", time.Hour, zap.NewNop())
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

// TestKeyringAsksForNoKeyUntilNeeded: a keyring makes no request until a
// key is asked for (so provisioning, which caddy validate does, needs no
// network); a first key Azure refuses gives a 503 that says nothing of
// why, a log line that does, naming the identity's kind, and retries that
// succeed once Azure agrees.
func TestKeyringAsksForNoKeyUntilNeeded(t *testing.T) {
	svc := newDelegationKeyService(t)
	svc.failing.Store(true)
	core, logs := observer.New(zap.ErrorLevel)
	unused := newKeyring(new(staticToken), svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", "workload", time.Hour, zap.New(core))
	require.NoError(t, unused.Destruct(), "destructing a keyring never asked for a key")
	k := newKeyring(new(staticToken), svc.Client(), stubEndpoint(t, svc.URL+"/devstoreaccount1"), "devstoreaccount1", "workload", time.Hour, zap.New(core))
	defer k.Destruct()
	assert.Zero(t, svc.asked.Load(), "requests before a key was asked for")

	_, err := k.key()
	require.Error(t, err, "a key from a refused identity")
	var he caddyhttp.HandlerError
	if assert.ErrorAs(t, err, &he, "a key from a refused identity") {
		assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode, "status for a request meanwhile")
	}
	assert.ErrorContains(t, err, "no valid user delegation key: getting one failed and is being retried; see the log")
	assert.NotContains(t, err.Error(), "AuthorizationPermissionMismatch", "what a client may see names Azure's answer")
	assert.Equal(t, int64(1), svc.asked.Load(), "requests for the first key")

	const logged = "no user delegation key: getting one failed, so requests that need one get 503 until it succeeds"
	require.Eventually(t, func() bool { return logs.FilterMessage(logged).Len() > 0 }, 5*time.Second, poll, "failure not logged: %v", logs.All())
	entry := logs.FilterMessage(logged).All()[0].ContextMap()
	assert.Equal(t, "workload", entry["identity"], "identity kind")
	assert.Equal(t, "devstoreaccount1", entry["account"])
	assert.Equal(t, time.Second, entry["retry_in"], "first retry")
	assert.Contains(t, entry["error"], "403 AuthorizationPermissionMismatch", "the reason")
	assert.Contains(t, entry["error"], "Storage Blob Delegator", "the fix")
	for _, e := range logs.All() {
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), "entra-token", "a log line holds the token")
	}

	// Azure agrees: the retry gets a key, with nothing done.
	svc.failing.Store(false)
	require.Eventually(t, func() bool { _, err := k.key(); return err == nil }, 10*time.Second, poll, "no key after Azure agreed")
}

// stubEndpoint is the blob endpoint of a stand-in at raw.
func stubEndpoint(t *testing.T, raw string) sas.BlobEndpoint {
	t.Helper()
	e, err := sas.ParseBlobEndpoint(raw)
	require.NoError(t, err)
	return e
}
