package caddymodule

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
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

// eventually polls cond every 50 ms for up to limit: a bound, not a timing
// the test asserts.
func eventually(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestKeyringRenewsOnceAndServesThroughFailures runs a keyring with 3-second
// keys: it renews each with one request before it expires; when renewal
// fails it keeps the valid key, retries with backoff, logs and counts;
// past the key's expiry it refuses to sign; and it recovers by itself.
func TestKeyringRenewsOnceAndServesThroughFailures(t *testing.T) {
	svc := newDelegationKeyService(t)
	cred := new(staticToken)
	core, logs := observer.New(zap.ErrorLevel)
	k, err := startKeyring(cred, svc.Client(), svc.URL+"/devstoreaccount1", "devstoreaccount1", 3*time.Second, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destruct()
	first, err := k.key()
	if err != nil || svc.asked.Load() != 1 {
		t.Fatalf("first key: %v after %d requests", err, svc.asked.Load())
	}
	// Renewed before it expires, with one request.
	if !eventually(10*time.Second, func() bool { d, _ := k.key(); return d != first }) {
		t.Fatal("the key was not renewed")
	}
	if n := svc.asked.Load(); n != 2 {
		t.Errorf("%d requests for two keys", n)
	}
	second, _ := k.key()
	if !second.Expiry().After(first.Expiry()) {
		t.Errorf("renewed key expires %v, the first %v", second.Expiry(), first.Expiry())
	}

	// Azure refuses: the held key serves on, failures are logged and counted.
	svc.failing.Store(true)
	if !eventually(10*time.Second, func() bool { return k.failures.Load() >= 2 }) {
		t.Fatalf("%d failures counted", k.failures.Load())
	}
	if logs.FilterMessage("renewing the user delegation key failed; the current one serves until it expires").Len() < 2 {
		t.Errorf("failures not logged: %v", logs.All())
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.ContextMap()), "c2VjcmV0") || strings.Contains(fmt.Sprint(e.ContextMap()), "entra-token") {
			t.Errorf("a log line holds the key or the token: %v", e.ContextMap())
		}
	}
	if !eventually(10*time.Second, func() bool { _, err := k.key(); return err != nil }) {
		t.Fatal("an expired key was still handed out")
	}
	if _, err := k.key(); !strings.Contains(err.Error(), "expired") {
		t.Errorf("past expiry: %v", err)
	}
	// Azure comes back: so does the key, with nothing done.
	svc.failing.Store(false)
	if !eventually(10*time.Second, func() bool { _, err := k.key(); return err == nil }) {
		t.Fatal("no recovery")
	}
}

// TestKeyringRefreshesWhenAsked: a refused token asks for a new key at once
// (the keys may have been revoked), at most once a minute.
func TestKeyringRefreshesWhenAsked(t *testing.T) {
	svc := newDelegationKeyService(t)
	k, err := startKeyring(new(staticToken), svc.Client(), svc.URL+"/devstoreaccount1", "devstoreaccount1", time.Hour, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	first, _ := k.key()
	k.refresh() // just fetched: too soon
	k.last.Store(time.Now().Add(-2 * minRefreshInterval).UnixNano())
	k.refresh()
	if !eventually(5*time.Second, func() bool { d, _ := k.key(); return d != first }) {
		t.Fatalf("no new key after a refresh; %d requests", svc.asked.Load())
	}
	if n := svc.asked.Load(); n != 2 {
		t.Errorf("%d requests, want the first and one refresh", n)
	}
	if err := k.Destruct(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.done:
	default:
		t.Error("the renewal goroutine outlived Destruct")
	}
}

func TestKeyringStartErrorsAreClear(t *testing.T) {
	svc := newDelegationKeyService(t)
	svc.failing.Store(true)
	_, err := startKeyring(new(staticToken), svc.Client(), svc.URL+"/devstoreaccount1", "devstoreaccount1", time.Hour, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "403 AuthorizationPermissionMismatch") || !strings.Contains(err.Error(), "Storage Blob Delegator") {
		t.Errorf("start with a refused identity: %v", err)
	}
}
