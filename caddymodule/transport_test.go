package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// recordingAzure is a stand-in for Azure that records what reached it and
// answers with the statuses it is given, in turn.
type recordingAzure struct {
	*httptest.Server
	mu       sync.Mutex
	got      []*http.Request
	statuses []int
}

func newRecordingAzure(t *testing.T, statuses ...int) *recordingAzure {
	t.Helper()
	a := &recordingAzure{statuses: statuses}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.got = append(a.got, r.Clone(context.Background()))
		status := http.StatusOK
		if len(a.statuses) > 0 {
			status, a.statuses = a.statuses[0], a.statuses[1:]
		}
		a.mu.Unlock()
		w.Header().Set("Server", "Windows-Azure-Blob/1.0")
		w.Header().Set("x-ms-request-id", "abc")
		w.Header().Set("ETag", `"0x1"`)
		if status == http.StatusForbidden {
			w.Header().Set("x-ms-error-code", "AuthenticationFailed")
		}
		w.WriteHeader(status)
		fmt.Fprint(w, "blob bytes")
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *recordingAzure) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.got...)
}

// provisionTransport provisions t against endpoint and captures its logs.
func provisionTransport(t *testing.T, tr *Transport) *observer.ObservedLogs {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := tr.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = tr.Cleanup() })
	core, logs := observer.New(zapcore.DebugLevel)
	tr.logger = zap.New(core)
	return logs
}

func devTransport(endpoint string) *Transport {
	return &Transport{Endpoint: endpoint + "/devstoreaccount1", Container: "photos", AccountKey: sas.DevAccountKey}
}

func clientRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Authorization", "Bearer client-secret")
	r.Header.Set("Cookie", "session=1")
	r.Header.Set("Proxy-Authorization", "Basic eA==")
	r.Header.Set("x-ms-copy-source", "https://evil.example/x")
	r.Header.Set("X-Ms-Version", "2009-09-19")
	r.Header.Set("X-HTTP-Method-Override", "DELETE")
	r.Header.Set("Range", "bytes=0-3")
	r.Header.Set("If-None-Match", `"0x0"`)
	r.Header.Set("If-Modified-Since", "") // empty: not forwarded
	return r
}

func TestTransportSendsOnlyWhatAzureNeeds(t *testing.T) {
	azure := newRecordingAzure(t)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)

	in := clientRequest(http.MethodGet, "http://media.example.com/photos/2024/a%20b+c%23d.jpg?comp=list&sig=mine&restype=container")
	in.URL.Path = "/photos/2024/a b+c#d.jpg"
	inQuery, inHeaders := in.URL.RawQuery, in.Header.Clone()
	resp, err := tr.RoundTrip(in)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "blob bytes" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("x-ms-request-id") != "" || resp.Header.Get("ETag") == "" {
		t.Errorf("response headers %v: want Server and x-ms-* removed, ETag kept", resp.Header)
	}

	got := azure.requests()
	if len(got) != 1 {
		t.Fatalf("%d upstream requests, want 1", len(got))
	}
	up := got[0]
	if up.URL.EscapedPath() != "/devstoreaccount1/photos/2024/a%20b+c%23d.jpg" {
		t.Errorf("upstream path %q", up.URL.EscapedPath())
	}
	if up.Host != strings.TrimPrefix(azure.URL, "http://") {
		t.Errorf("upstream Host %q", up.Host)
	}
	q := up.URL.Query()
	for _, forbidden := range []string{"comp", "restype"} {
		if q.Has(forbidden) {
			t.Errorf("client's %s reached Azure", forbidden)
		}
	}
	if q.Get("sp") != "r" || q.Get("sr") != "b" || q.Get("sv") != sas.DefaultVersion || len(q["sig"]) != 1 || q.Get("sig") == "mine" {
		t.Errorf("upstream query %v: want one read-only blob token of ours", q)
	}
	tok, err := sas.Parse(up.URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	if err := tok.VerifyService(key, "photos", "2024/a b+c#d.jpg", ""); err != nil {
		t.Errorf("the token does not sign the blob's decoded name: %v", err)
	}
	want := http.Header{"Range": {"bytes=0-3"}, "If-None-Match": {`"0x0"`}, "X-Ms-Version": {sas.DefaultVersion}}
	for name := range up.Header {
		switch name {
		case "Range", "If-None-Match", "X-Ms-Version", "Accept-Encoding", "User-Agent":
		default:
			t.Errorf("header %s reached Azure", name)
		}
	}
	for name, v := range want {
		if up.Header.Get(name) != v[0] {
			t.Errorf("upstream %s = %q, want %q", name, up.Header.Get(name), v[0])
		}
	}
	if in.URL.RawQuery != inQuery || fmt.Sprint(in.Header) != fmt.Sprint(inHeaders) || in.URL.Host != "media.example.com" {
		t.Error("RoundTrip changed the request it was given")
	}
}

// TestTransportRetriesOnceAfter403: a refusal is retried once with a fresh
// token; a refusal that persists is passed on and logged with Azure's code.
func TestTransportRetriesOnceAfter403(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		want     int
		logged   int
	}{
		{"healed by a fresh token", []int{http.StatusForbidden, http.StatusOK}, http.StatusOK, 0},
		{"refused again", []int{http.StatusForbidden, http.StatusForbidden, http.StatusOK}, http.StatusForbidden, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			azure := newRecordingAzure(t, tc.statuses...)
			tr := devTransport(azure.URL)
			logs := provisionTransport(t, tr)
			resp, err := tr.RoundTrip(clientRequest(http.MethodGet, "http://x/photos/a.jpg"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || len(azure.requests()) != 2 {
				t.Fatalf("status %d after %d upstream requests; want %d after exactly 2", resp.StatusCode, len(azure.requests()), tc.want)
			}
			entries := logs.FilterMessage("Azure refused the request's authorization").All()
			if len(entries) != tc.logged || (tc.logged > 0 && entries[0].ContextMap()["azure_error_code"] != "AuthenticationFailed") {
				t.Fatalf("log entries %v: want %d naming AuthenticationFailed", entries, tc.logged)
			}
			assertNoToken(t, azure, logs)
		})
	}
}

func TestTransportSASTokenAndAnonymous(t *testing.T) {
	key, _ := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead | sas.PermList, Container: "photos", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		tr        func(endpoint string) *Transport
		wantQuery string
	}{
		{"sas_token with ?", func(e string) *Transport {
			return &Transport{Endpoint: e + "/devstoreaccount1", SASToken: "?" + q.Encode()}
		}, q.Encode()},
		{"anonymous", func(e string) *Transport { return &Transport{Endpoint: e + "/devstoreaccount1", Anonymous: true} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			azure := newRecordingAzure(t, http.StatusForbidden)
			tr := tc.tr(azure.URL)
			logs := provisionTransport(t, tr)
			resp, err := tr.RoundTrip(clientRequest(http.MethodHead, "http://x/photos/a.jpg"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := azure.requests()
			if len(got) != 1 || got[0].URL.RawQuery != tc.wantQuery || got[0].Method != http.MethodHead {
				t.Fatalf("%d requests, query %q: want one HEAD with %q (re-signing cannot help a given token)", len(got), got[0].URL.RawQuery, tc.wantQuery)
			}
			if logs.FilterMessage("Azure refused the request's authorization").Len() != 1 {
				t.Error("a refused token was not logged")
			}
		})
	}
}

func TestTransportRefusesWhatItMustNotSend(t *testing.T) {
	azure := newRecordingAzure(t)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPut, "http://x/photos/a.jpg", nil),
		httptest.NewRequest(http.MethodDelete, "http://x/photos/a.jpg", nil),
		httptest.NewRequest(http.MethodGet, "http://x/videos/a.jpg", nil),
		httptest.NewRequest(http.MethodGet, "http://x/photos/a/../b.jpg", nil),
		httptest.NewRequest(http.MethodGet, "http://x/", nil),
	} {
		if r.URL.Path == "/photos/a/b.jpg" {
			r.URL.Path = "/photos/a/../b.jpg"
		}
		if resp, err := tr.RoundTrip(r); err == nil {
			resp.Body.Close()
			t.Errorf("%s %s was sent", r.Method, r.URL.Path)
		}
	}
	if n := len(azure.requests()); n != 0 {
		t.Errorf("%d refused requests reached Azure", n)
	}
}

func TestTransportErrorsCarryNoToken(t *testing.T) {
	azure := newRecordingAzure(t)
	tr := devTransport(azure.URL)
	logs := provisionTransport(t, tr)
	azure.Close() // connection refused from now on
	_, err := tr.RoundTrip(clientRequest(http.MethodGet, "http://x/photos/a.jpg"))
	if err == nil {
		t.Fatal("no error from a closed upstream")
	}
	if strings.Contains(err.Error(), "sig=") || strings.Contains(err.Error(), "se=") {
		t.Errorf("error carries the token: %v", err)
	}
	assertNoToken(t, azure, logs)
}

// assertNoToken checks that no log entry carries a signature.
func assertNoToken(t *testing.T, azure *recordingAzure, logs *observer.ObservedLogs) {
	t.Helper()
	var sigs []string
	for _, r := range azure.requests() {
		if s := r.URL.Query().Get("sig"); s != "" {
			sigs = append(sigs, s, url.QueryEscape(s))
		}
	}
	for _, e := range logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		for _, s := range append(sigs, "sig=", sas.DevAccountKey) {
			if strings.Contains(text, s) {
				t.Errorf("log %q carries a secret", text)
			}
		}
	}
}

func TestTransportProvisionErrors(t *testing.T) {
	t.Setenv("AZ_EMPTY", "")
	t.Setenv("AZ_KEY", sas.DevAccountKey)
	endpoint := "http://127.0.0.1:1/devstoreaccount1"
	tests := []struct {
		name string
		tr   Transport
		want string
	}{
		{"no credential", Transport{Endpoint: endpoint}, "credential: give one of account_key, connection_string, sas_token or anonymous"},
		{"two credentials", Transport{Endpoint: endpoint, AccountKey: sas.DevAccountKey, Anonymous: true}, "not account_key and anonymous"},
		{"bad base64", Transport{Endpoint: endpoint, AccountKey: "not base64!"}, "account_key: account key is not valid base64"},
		{"empty env", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_EMPTY}"}, "account_key: evaluated placeholder {env.AZ_EMPTY} is empty"},
		{"renew not below ttl", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", TTL: caddy.Duration(time.Minute), RenewBefore: caddy.Duration(time.Minute)}, "renew_before 1m0s must be less than ttl 1m0s"},
		{"fractional ttl", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", TTL: caddy.Duration(1500 * time.Millisecond)}, "ttl 1.5s must be a positive whole number of seconds"},
		{"scope", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", Scope: "account"}, `scope "account" is not blob or container`},
		{"version", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", Version: "2099-01-01"}, `version "2099-01-01" is not a known`},
		{"endpoint", Transport{Endpoint: "ftp://x", AccountKey: "{env.AZ_KEY}"}, `endpoint "ftp://x" is not an http(s) URL`},
		{"no account", Transport{Endpoint: "https://cdn.example.com", AccountKey: "{env.AZ_KEY}"}, "account: needed to sign with account_key"},
		{"nowhere", Transport{AccountKey: "{env.AZ_KEY}"}, "endpoint: cannot tell where the storage account is"},
		{"bad connection string", Transport{ConnectionString: "AccountName=x;AccountKey=" + sas.DevAccountKey[:30]}, "connection_string: connection string AccountName"},
		{"malformed token", Transport{Endpoint: endpoint, SASToken: "sv=2025-11-05&sp=r&sig=abc"}, "sas_token: SAS token signature (sig) is not a base64 HMAC-SHA256"},
		{"expired token", Transport{Endpoint: endpoint, SASToken: expiredToken(t)}, "sas_token: expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tt.tr.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), sas.DevAccountKey[:20]) || strings.Contains(err.Error(), "sig=") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}

func expiredToken(t *testing.T) string {
	key, _ := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	v := sas.ServiceValues{Permissions: sas.PermRead, Container: "photos", Blob: "a.jpg", Expiry: time.Now().Add(-time.Minute)}
	q, err := v.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

func TestTransportResolvesSuffixRanges(t *testing.T) {
	for _, tc := range []struct{ asked, sent string }{
		{"bytes=-4", "bytes=6-"},   // the blob is 10 bytes
		{"bytes=-100", "bytes=0-"}, // more than the blob: all of it
		{"bytes=-0", "bytes=11-"},  // nothing: past the end, so 416
		{"bytes=2-5", "bytes=2-5"}, // absolute ranges pass as they are
		{"bytes=0-1,4-5", ""},      // several ranges: the whole blob
		{"bytes=-x", ""},           // malformed: the whole blob
	} {
		t.Run(tc.asked, func(t *testing.T) {
			azure := newRecordingAzure(t)
			tr := devTransport(azure.URL)
			provisionTransport(t, tr)
			in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.jpg", nil)
			in.Header.Set("Range", tc.asked)
			resp, err := tr.RoundTrip(in)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := azure.requests()
			last := got[len(got)-1]
			if last.Method != http.MethodGet || last.Header.Get("Range") != tc.sent {
				t.Errorf("Azure got %s with Range %q, want GET with %q", last.Method, last.Header.Get("Range"), tc.sent)
			}
			suffix := strings.HasPrefix(tc.asked, "bytes=-") && tc.sent != ""
			if suffix && (len(got) != 2 || got[0].Method != http.MethodHead || got[0].Header.Get("Range") != "") {
				t.Errorf("a suffix range was resolved without a plain HEAD first: %d requests", len(got))
			}
			if !suffix && len(got) != 1 {
				t.Errorf("%d requests, want 1", len(got))
			}
		})
	}
}
