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
	bodies   []string
	statuses []int
}

func newRecordingAzure(t *testing.T, statuses ...int) *recordingAzure {
	t.Helper()
	a := &recordingAzure{statuses: statuses}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, r.Clone(context.Background()))
		a.bodies = append(a.bodies, string(body))
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
		if status >= 400 {
			// Real Azure quotes the string-to-sign in AuthenticationErrorDetail.
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprint(w, "<Error><AuthenticationErrorDetail>String to sign used was r\n\n2030</AuthenticationErrorDetail></Error>")
			return
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

// atUpstream addresses r to the recording server, as reverse_proxy does
// with the upstream it picked before it calls the transport.
func atUpstream(r *http.Request, azure *recordingAzure) *http.Request {
	r.URL.Scheme, r.URL.Host = "", strings.TrimPrefix(azure.URL, "http://")
	return r
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
	resp, err := tr.RoundTrip(atUpstream(in, azure))
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
	if in.URL.RawQuery != inQuery || fmt.Sprint(in.Header) != fmt.Sprint(inHeaders) || in.URL.Host != strings.TrimPrefix(azure.URL, "http://") {
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
			resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || len(azure.requests()) != 2 {
				t.Fatalf("status %d after %d upstream requests; want %d after exactly 2", resp.StatusCode, len(azure.requests()), tc.want)
			}
			entries := logs.FilterMessage(logRefusedResigned).All()
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
			resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodHead, "http://x/photos/a.jpg"), azure))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := azure.requests()
			if len(got) != 1 || got[0].URL.RawQuery != tc.wantQuery || got[0].Method != http.MethodHead {
				t.Fatalf("%d requests, query %q: want one HEAD with %q (re-signing cannot help a given token)", len(got), got[0].URL.RawQuery, tc.wantQuery)
			}
			if logs.FilterMessage(logRefused).Len() != 1 {
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
		if resp, err := tr.RoundTrip(atUpstream(r, azure)); err == nil {
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
	_, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
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
		{"no credential", Transport{Endpoint: endpoint}, "credential: give one of account_key, connection_string, sas_token, identity or anonymous"},
		{"two credentials", Transport{Endpoint: endpoint, AccountKey: sas.DevAccountKey, Anonymous: true}, "not account_key and anonymous"},
		{"bad base64", Transport{Endpoint: endpoint, AccountKey: "not base64!"}, "account_key: account key is not valid base64"},
		{"empty env", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_EMPTY}"}, "account_key: evaluated placeholder {env.AZ_EMPTY} is empty"},
		{"renew not below ttl", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", TTL: caddy.Duration(time.Minute), RenewBefore: caddy.Duration(time.Minute)}, "renew_before 1m0s must be less than ttl 1m0s"},
		{"fractional ttl", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", TTL: caddy.Duration(1500 * time.Millisecond)}, "ttl 1.5s must be a positive whole number of seconds"},
		{"scope", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", Scope: "account"}, `scope "account" is not blob or container`},
		{"version", Transport{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", Version: "2099-01-01"}, `version "2099-01-01" is not a known`},
		{"endpoint", Transport{Endpoint: "ftp://x", AccountKey: "{env.AZ_KEY}"}, "endpoint is not an http(s) URL"},
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
			resp, err := tr.RoundTrip(atUpstream(in, azure))
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

func TestTransportSendsNoBodyOrTrailers(t *testing.T) {
	for _, rangeHeader := range []string{"", "bytes=-4"} {
		azure := newRecordingAzure(t)
		tr := devTransport(azure.URL)
		provisionTransport(t, tr)
		in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.jpg", strings.NewReader("client body"))
		in.Trailer = http.Header{"X-Ms-Copy-Source": {"https://evil.example/x"}}
		if rangeHeader != "" {
			in.Header.Set("Range", rangeHeader)
		}
		resp, err := tr.RoundTrip(atUpstream(in, azure))
		if err != nil {
			t.Fatalf("Range %q: %v", rangeHeader, err)
		}
		resp.Body.Close()
		for i, r := range azure.requests() {
			if azure.bodies[i] != "" || r.ContentLength > 0 || len(r.Trailer) > 0 {
				t.Errorf("Range %q: request %d carried the client's body %q or trailers %v", rangeHeader, i, azure.bodies[i], r.Trailer)
			}
		}
	}
}

func TestTransportDropsAzureErrorBodies(t *testing.T) {
	for status, keep := range map[int]bool{403: false, 404: false, 500: false, 400: false, 412: true, 416: true} {
		azure := newRecordingAzure(t, status, status)
		tr := devTransport(azure.URL)
		provisionTransport(t, tr)
		resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || strings.Contains(string(body), "String to sign") != keep {
			t.Errorf("Azure %d: client got %d %q; Azure's body kept: %v, want %v", status, resp.StatusCode, body, !keep, keep)
		}
	}
}

func TestTransportHealsARefusedSuffixRangeHead(t *testing.T) {
	azure := newRecordingAzure(t, http.StatusForbidden, http.StatusOK, http.StatusPartialContent)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	in := clientRequest(http.MethodGet, "http://x/photos/a.jpg")
	in.Header.Set("Range", "bytes=-4")
	resp, err := tr.RoundTrip(atUpstream(in, azure))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := azure.requests()
	if len(got) != 3 || got[0].Method != http.MethodHead || got[1].Method != http.MethodHead || got[2].Header.Get("Range") != "bytes=6-" {
		t.Fatalf("requests %d, last Range %q: want HEAD, HEAD again with a fresh token, GET bytes=6-", len(got), got[len(got)-1].Header.Get("Range"))
	}
}

func TestTransportWithoutContainerRefusesSystemContainers(t *testing.T) {
	azure := newRecordingAzure(t)
	tr := &Transport{Endpoint: azure.URL + "/devstoreaccount1", AccountKey: sas.DevAccountKey}
	logs := provisionTransport(t, tr)
	for _, c := range []string{"$logs", "$root", "$web"} {
		if resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/"+c+"/a.log"), azure)); err == nil {
			resp.Body.Close()
			t.Errorf("%s was read", c)
		}
	}
	if len(azure.requests()) != 0 {
		t.Error("a system container request reached Azure")
	}
	resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/videos/a.mp4"), azure))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = logs
}

func TestTransportKeepsTheUpstreamAndPassesGzipAsStored(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	var gotHost, gotURLHost, gotAE string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotURLHost, gotAE = r.Host, r.URL.Host, r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	}))
	defer upstream.Close()
	// The endpoint names another host: requests still go where reverse_proxy
	// sends them, with the endpoint's Host header.
	tr := &Transport{Account: sas.DevAccountName, Endpoint: "http://blob.internal:8080/devstoreaccount1", Container: "photos", AccountKey: sas.DevAccountKey}
	provisionTransport(t, tr)
	in := clientRequest(http.MethodGet, "http://x/photos/a.js")
	in.URL.Scheme, in.URL.Host = "", strings.TrimPrefix(upstream.URL, "http://")
	resp, err := tr.RoundTrip(in)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if gotHost != "blob.internal:8080" {
		t.Errorf("Host %q, want the endpoint's", gotHost)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" || string(body) != string(gz) {
		t.Errorf("a gzip blob came back as %q with Content-Encoding %q: want it as stored", body, resp.Header.Get("Content-Encoding"))
	}
	_, _ = gotURLHost, gotAE
}

func TestTransportEndpointErrorsQuoteNoSig(t *testing.T) {
	for _, tc := range []struct {
		tr   Transport
		want string
	}{
		{Transport{Endpoint: "https://mystorage.blob.core.windows.net/?sv=2022-11-02&sp=r&sig=TOPSECRETSIG%3D", AccountKey: sas.DevAccountKey}, "endpoint must not carry a query"},
		{Transport{Endpoint: "https://x?sig=TOPSECRETSIG", Anonymous: true}, "endpoint must not carry a query"},
		{Transport{Endpoint: "ftp://x/?sig=TOPSECRETSIG", Anonymous: true}, "endpoint is not an http(s) URL"},
		{Transport{Account: "realacct", Endpoint: "https://mystorage.blob.core.windows.net", AccountKey: sas.DevAccountKey}, `account "realacct" differs from the account "mystorage" the endpoint names`},
		{Transport{Endpoint: "http://127.0.0.1:10000/devstoreaccount1", ConnectionString: "AccountName=other;AccountKey=" + sas.DevAccountKey + ";BlobEndpoint=http://10.0.0.1/other"}, "endpoint differs from the connection string's blob endpoint"},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := tc.tr.Provision(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("error %v, want %q and no sig", err, tc.want)
		}
	}
}

func TestTransportSchedulesSASTokenExpiryWarnings(t *testing.T) {
	key, _ := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos", Expiry: time.Now().Add(2 * time.Hour)}
	q, err := v.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Transport{Endpoint: "http://127.0.0.1:1/devstoreaccount1", Container: "photos", SASToken: q.Encode()}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := tr.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	// Two hours left: the day-before warning is past; an hour, a minute and
	// the expiry itself are ahead.
	if n := len(tr.expiryTimers); n != 3 {
		t.Fatalf("%d warnings scheduled, want 3", n)
	}
	if err := tr.Cleanup(); err != nil {
		t.Fatal(err)
	}
	for i, timer := range tr.expiryTimers {
		if timer.Stop() {
			t.Errorf("warning %d still scheduled after Cleanup", i)
		}
	}
}

func TestLiteralSecretsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		tr   Transport
		want string
	}{
		{Transport{AccountKey: "{env.AZURE_STORAGE_KEY}"}, ""},
		{Transport{AccountKey: "{file./run/secrets/azkey}"}, ""},
		{Transport{AccountKey: sas.DevAccountKey}, ""}, // Azurite's, public
		{Transport{ConnectionString: "UseDevelopmentStorage=true"}, ""},
		{Transport{Anonymous: true}, ""},
		{Transport{AccountKey: "ZHVtbXk="}, "account_key"},
		{Transport{ConnectionString: "AccountName=a;AccountKey=ZHVtbXk="}, "connection_string"},
		{Transport{SASToken: "sv=2025-11-05&sig=x"}, "sas_token"},
	} {
		if got := tc.tr.literalSecret(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.tr, got, tc.want)
		}
	}
}
