package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/leaks"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func TestTransportSendsOnlyWhatAzureNeeds(t *testing.T) {
	azure := azurestub.Scripted(t)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)

	in := clientRequest(http.MethodGet, "http://media.example.com/photos/2024/a%20b+c%23d.jpg?comp=list&sig=mine&restype=container")
	in.URL.Path = "/photos/2024/a b+c#d.jpg"
	inQuery, inHeaders := in.URL.RawQuery, in.Header.Clone()
	resp, err := tr.RoundTrip(atUpstream(in, azure))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err, "reading the response body")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "blob bytes", string(body))
	assert.Empty(t, resp.Header.Get("Server"), "response headers %v: want Server removed", resp.Header)
	assert.Empty(t, resp.Header.Get("x-ms-request-id"), "response headers %v: want x-ms-* removed", resp.Header)
	assert.NotEmpty(t, resp.Header.Get("ETag"), "response headers %v: want ETag kept", resp.Header)

	got := azure.Requests()
	require.Len(t, got, 1, "upstream requests")
	up := got[0]
	assert.Equal(t, "/devstoreaccount1/photos/2024/a%20b+c%23d.jpg", up.EscapedPath, "upstream path")
	assert.Equal(t, strings.TrimPrefix(azure.URL, "http://"), up.Host, "upstream Host")
	q := up.Query
	for _, forbidden := range []string{"comp", "restype"} {
		assert.False(t, q.Has(forbidden), "client's %s reached Azure", forbidden)
	}
	// One read-only blob token of ours.
	assert.Equal(t, "r", q.Get("sp"), "upstream query %v", q)
	assert.Equal(t, "b", q.Get("sr"), "upstream query %v", q)
	assert.Equal(t, sas.DefaultVersion, q.Get("sv"), "upstream query %v", q)
	assert.Len(t, q["sig"], 1, "upstream query %v", q)
	assert.NotEqual(t, "mine", q.Get("sig"), "the client's sig reached Azure")
	tok, err := sas.Parse(up.RawQuery)
	require.NoError(t, err)
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	assert.NoError(t, tok.VerifyService(key, "photos", "2024/a b+c#d.jpg", ""), "the token does not sign the blob's decoded name")
	want := http.Header{"Range": {"bytes=0-3"}, "If-None-Match": {`"0x0"`}, "X-Ms-Version": {sas.DefaultVersion}}
	for name := range up.Header {
		assert.Contains(t, []string{"Range", "If-None-Match", "X-Ms-Version", "Accept-Encoding", "User-Agent"}, name, "header %s reached Azure", name)
	}
	for name, v := range want {
		assert.Equal(t, v[0], up.Header.Get(name), "upstream %s", name)
	}
	assert.Equal(t, inQuery, in.URL.RawQuery, "RoundTrip changed the request it was given")
	assert.Equal(t, inHeaders, in.Header, "RoundTrip changed the request it was given")
	assert.Equal(t, strings.TrimPrefix(azure.URL, "http://"), in.URL.Host, "RoundTrip changed the request it was given")
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
			azure := azurestub.Scripted(t, tc.statuses...)
			tr := devTransport(azure.URL)
			logs := provisionTransport(t, tr)
			resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode, "status")
			require.Len(t, azure.Requests(), 2, "upstream requests: want exactly 2")
			entries := logs.FilterMessage(logRefusedResigned).All()
			require.Len(t, entries, tc.logged, "log entries %v", entries)
			if tc.logged > 0 {
				assert.Equal(t, "AuthenticationFailed", entries[0].ContextMap()["azure_error_code"], "the log entry names Azure's code")
			}
			assertNoToken(t, azure, logs)
		})
	}
}

func TestTransportSASTokenAndAnonymous(t *testing.T) {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead | sas.PermList, Container: "photos", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(key)
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		tr        func(endpoint string) *Transport
		wantQuery string
	}{
		{"sas_token with ?", func(e string) *Transport {
			return &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: e + "/devstoreaccount1", SASToken: "?" + q.Encode()}}}
		}, q.Encode()},
		{"anonymous", func(e string) *Transport {
			return &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: e + "/devstoreaccount1", Anonymous: true}}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			azure := azurestub.Scripted(t, http.StatusForbidden)
			tr := tc.tr(azure.URL)
			logs := provisionTransport(t, tr)
			resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodHead, "http://x/photos/a.jpg"), azure))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, "Azure's refusal is passed on")
			got := azure.Requests()
			require.Len(t, got, 1, "want one request: re-signing cannot help a given token")
			assert.Equal(t, tc.wantQuery, got[0].RawQuery, "query")
			assert.Equal(t, http.MethodHead, got[0].Method)
			entries := logs.FilterMessage(logRefused).All()
			require.Len(t, entries, 1, "a refused token was not logged")
			assert.Equal(t, "AuthenticationFailed", entries[0].ContextMap()["azure_error_code"], "the log entry names Azure's code")
		})
	}
}

func TestTransportRefusesWhatItMustNotSend(t *testing.T) {
	azure := azurestub.Scripted(t)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	// A refusal is answered by the transport itself, with the reason, not
	// with an error that reverse_proxy would count against the upstream.
	for _, tc := range []struct {
		r      *http.Request
		status int
		reason string
	}{
		{httptest.NewRequest(http.MethodPut, "http://x/photos/a.jpg", nil), http.StatusMethodNotAllowed, "azure_blob reads blobs only, with GET or HEAD"},
		{httptest.NewRequest(http.MethodDelete, "http://x/photos/a.jpg", nil), http.StatusMethodNotAllowed, "azure_blob reads blobs only, with GET or HEAD"},
		{httptest.NewRequest(http.MethodGet, "http://x/videos/a.jpg", nil), http.StatusNotFound, "request addresses another container than the configured one"},
		{httptest.NewRequest(http.MethodGet, "http://x/photos/a/../b.jpg", nil), http.StatusBadRequest, errDotSegment.Error()},
		{httptest.NewRequest(http.MethodGet, "http://x/", nil), http.StatusNotFound, "request path is not /container/blob"},
	} {
		r := tc.r
		resp, err := tr.RoundTrip(atUpstream(r, azure))
		require.NoError(t, err, "%s %s", r.Method, r.URL.Path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "%s %s: reading the body", r.Method, r.URL.Path)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s", r.Method, r.URL.Path)
		assert.Equal(t, tc.reason+"\n", string(body), "%s %s: refused for another reason", r.Method, r.URL.Path)
		if tc.status == http.StatusMethodNotAllowed {
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"), "%s %s", r.Method, r.URL.Path)
		}
	}
	assert.Empty(t, azure.Requests(), "refused requests reached Azure")
}

func TestTransportErrorsCarryNoToken(t *testing.T) {
	azure := azurestub.Scripted(t)
	tr := devTransport(azure.URL)
	logs := provisionTransport(t, tr)
	azure.Close() // connection refused from now on
	_, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
	require.Error(t, err, "no error from a closed upstream")
	assert.NotContains(t, err.Error(), "sig=", "error carries the token")
	assert.NotContains(t, err.Error(), "se=", "error carries the token")
	assertNoToken(t, azure, logs)
}

// assertNoToken checks that no log entry, written as Caddy's JSON log
// writes it, shows a signature the stand-in was sent or the account key,
// as it is or as it decodes (package leaks).
func assertNoToken(t *testing.T, azure *azurestub.Server, logs *observer.ObservedLogs) {
	t.Helper()
	search := leaks.New()
	search.Add("the account key", sas.DevAccountKey)
	for _, r := range azure.Requests() {
		search.Add("a signature the stand-in was sent", r.Query.Get("sig"))
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		line, err := enc.EncodeEntry(e.Entry, e.Context)
		require.NoError(t, err)
		assert.Empty(t, search.Find(line.Bytes()), "log %s carries a secret", line.Bytes())
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
		{"no credential", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint}}}, "credential: give one of account_key, connection_string, sas_token, identity or anonymous"},
		{"two credentials", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: sas.DevAccountKey, Anonymous: true}}}, "not account_key and anonymous"},
		{"bad base64", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "not base64!"}}}, "account_key: account key is not valid base64"},
		{"empty env", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "{env.AZ_EMPTY}"}}}, "account_key: evaluated placeholder {env.AZ_EMPTY} is empty"},
		{"renew not below ttl", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}"}, TTL: caddy.Duration(time.Minute), RenewBefore: caddy.Duration(time.Minute)}}, "renew_before 1m0s must be less than ttl 1m0s"},
		{"fractional ttl", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}"}, TTL: caddy.Duration(1500 * time.Millisecond)}}, "ttl 1.5s must be a positive whole number of seconds"},
		{"scope", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}"}, Scope: "account"}}, "scope must be blob or container"},
		{"version", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, AccountKey: "{env.AZ_KEY}", Version: "2099-01-01"}}}, "version: not a known Azure Storage service version"},
		{"endpoint", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "ftp://x", AccountKey: "{env.AZ_KEY}"}}}, "endpoint is not an http(s) URL"},
		{"no account", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "https://cdn.example.com", AccountKey: "{env.AZ_KEY}"}}}, "account: needed to sign with account_key"},
		{"nowhere", Transport{ReadOrigin: ReadOrigin{Origin: Origin{AccountKey: "{env.AZ_KEY}"}}}, "cannot tell where the storage account is: give account, endpoint or connection_string"},
		{"bad connection string", Transport{ReadOrigin: ReadOrigin{Origin: Origin{ConnectionString: "AccountName=x;AccountKey=" + sas.DevAccountKey[:30]}}}, "connection_string: connection string AccountName"},
		{"malformed token", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, SASToken: "sv=2025-11-05&sp=r&sig=abc"}}}, "sas_token: SAS token signature (sig) is not a base64 HMAC-SHA256"},
		{"expired token", Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint, SASToken: expiredToken(t)}}}, "sas_token: expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tt.tr.Provision(ctx)
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), sas.DevAccountKey[:20], "error quotes the key")
			assert.NotContains(t, err.Error(), "sig=", "error quotes a token")
		})
	}
}

func expiredToken(t *testing.T) string {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	v := sas.ServiceValues{Permissions: sas.PermRead, Container: "photos", Blob: "a.jpg", Expiry: time.Now().Add(-time.Minute)}
	q, err := v.Sign(key)
	require.NoError(t, err)
	return q.Encode()
}

func TestTransportSendsNoBodyOrTrailers(t *testing.T) {
	for _, rangeHeader := range []string{"", "bytes=-4"} {
		azure := azurestub.Scripted(t)
		tr := devTransport(azure.URL)
		provisionTransport(t, tr)
		in := httptest.NewRequest(http.MethodGet, "http://x/photos/a.jpg", strings.NewReader("client body"))
		in.Trailer = http.Header{"X-Ms-Copy-Source": {"https://evil.example/x"}}
		if rangeHeader != "" {
			in.Header.Set("Range", rangeHeader)
		}
		resp, err := tr.RoundTrip(atUpstream(in, azure))
		require.NoError(t, err, "Range %q", rangeHeader)
		resp.Body.Close()
		got := azure.Requests()
		require.NotEmpty(t, got, "Range %q: nothing reached Azure", rangeHeader)
		for i, r := range got {
			assert.Empty(t, r.Body, "Range %q: request %d carried the client's body", rangeHeader, i)
			assert.Zero(t, r.ContentLength, "Range %q: request %d carried a body", rangeHeader, i)
			assert.Empty(t, r.Trailer, "Range %q: request %d carried the client's trailers", rangeHeader, i)
		}
	}
}

// TestTransportDropsAzureErrorBodies: Azure's error documents can quote the
// string-to-sign; no client gets one, whatever the status.
func TestTransportDropsAzureErrorBodies(t *testing.T) {
	for _, status := range []int{403, 404, 500, 400, 412, 416} {
		azure := azurestub.Scripted(t, status, status)
		tr := devTransport(azure.URL)
		provisionTransport(t, tr)
		resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/a.jpg"), azure))
		require.NoError(t, err, "Azure %d", status)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "Azure %d: reading the body", status)
		assert.Equal(t, status, resp.StatusCode, "Azure %d: the client's status", status)
		assert.Empty(t, body, "Azure %d: Azure's body should be dropped", status)
	}
}

func TestTransportWithoutContainerRefusesSystemContainers(t *testing.T) {
	azure := azurestub.Scripted(t)
	tr := &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: azure.URL + "/devstoreaccount1", AccountKey: sas.DevAccountKey}}}
	provisionTransport(t, tr)
	for _, c := range []string{"$logs", "$root", "$web"} {
		resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/"+c+"/a.log"), azure))
		require.NoError(t, err, "%s: a refusal is an answer, not an error", c)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "%s: reading the body", c)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s was read", c)
		assert.Equal(t, "request addresses a system container; name it with container to serve it\n", string(body), "%s: refused for another reason", c)
	}
	assert.Empty(t, azure.Requests(), "a system container request reached Azure")
	// Any other container is read.
	resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/videos/a.mp4"), azure))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	got := azure.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, "/devstoreaccount1/videos/a.mp4", got[0].Path)
}

func TestTransportKeepsTheUpstreamAndPassesGzipAsStored(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	azure := azurestub.New(t)
	azure.Put("photos", "a.js", gz, http.Header{"Content-Encoding": {"gzip"}})
	// The endpoint names another host: requests still go where reverse_proxy
	// sends them, with the endpoint's Host header.
	tr := &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Account: sas.DevAccountName, Endpoint: "http://blob.internal:8080/devstoreaccount1", Container: "photos", AccountKey: sas.DevAccountKey}}}
	provisionTransport(t, tr)
	in := clientRequest(http.MethodGet, "http://x/photos/a.js")
	// Go's http.Transport asks for gzip only when a request has no Range:
	// without one, an Accept-Encoding would show compression is on.
	in.Header.Del("Range")
	resp, err := tr.RoundTrip(atUpstream(in, azure))
	require.NoError(t, err, "the request did not reach the upstream reverse_proxy chose")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err, "reading the body")
	got := azure.Requests()
	require.Len(t, got, 1, "requests Azure got")
	assert.Equal(t, "blob.internal:8080", got[0].Host, "Host: want the endpoint's")
	// Compression is off: the transport asks for no encoding of its own, and
	// the gzip blob comes back as stored.
	_, aeSent := got[0].Header["Accept-Encoding"]
	assert.False(t, aeSent, "the transport sent Accept-Encoding %q: it would ask Azure to encode", got[0].Header.Get("Accept-Encoding"))
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), "a gzip blob must keep its Content-Encoding")
	assert.Equal(t, gz, body, "a gzip blob must come back as stored")
}

func TestTransportEndpointErrorsQuoteNoSig(t *testing.T) {
	for _, tc := range []struct {
		tr   Transport
		want string
	}{
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "https://mystorage.blob.core.windows.net/?sv=2022-11-02&sp=r&sig=TOPSECRETSIG%3D", AccountKey: sas.DevAccountKey}}}, "endpoint must not carry a query"},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "https://x?sig=TOPSECRETSIG", Anonymous: true}}}, "endpoint must not carry a query"},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "ftp://x/?sig=TOPSECRETSIG", Anonymous: true}}}, "endpoint is not an http(s) URL"},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Account: "realacct", Endpoint: "https://mystorage.blob.core.windows.net", AccountKey: sas.DevAccountKey}}}, `account "realacct" differs from the account "mystorage" that endpoint names`},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "http://127.0.0.1:10000/devstoreaccount1", ConnectionString: "AccountName=other;AccountKey=" + sas.DevAccountKey + ";BlobEndpoint=http://10.0.0.1/other"}}}, "endpoint differs from the blob endpoint of connection_string"},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := tc.tr.Provision(ctx)
		cancel()
		if assert.ErrorContains(t, err, tc.want) {
			assert.NotContains(t, err.Error(), "TOPSECRET", "the error quotes the sig")
		}
	}
}

// logEntry is what a test reads of one line of a JSON log.
type logEntry struct {
	Level  string    `json:"level"`
	Logger string    `json:"logger"`
	Msg    string    `json:"msg"`
	Expiry time.Time `json:"expiry"` // RFC 3339, as the transport logs times whatever the encoder
}

// loadLoggedTransport loads an azure_blob transport from its JSON config as
// Caddy does, in a config whose log "test" writes every entry, as JSON, to
// logFile. It returns the transport and unload, which cancels the
// transport's context as a reload or a stop does.
func loadLoggedTransport(t *testing.T, logFile, config string) (tr *Transport, unload func()) {
	t.Helper()
	cfg := &caddy.Config{Logging: new(caddy.Logging)}
	require.NoError(t, json.Unmarshal([]byte(fmt.Sprintf(`{"logs": {"test": {
		"writer": {"output": "file", "filename": %q, "roll": false},
		"encoder": {"format": "json"},
		"level": "DEBUG"}}}`, logFile)), cfg.Logging))
	base, err := caddy.ProvisionContext(cfg)
	require.NoError(t, err, "setting up the log")
	ctx, cancel := caddy.NewContext(base)
	var once sync.Once
	unload = func() { once.Do(cancel) }
	t.Cleanup(unload)
	mod, err := ctx.LoadModuleByID("http.reverse_proxy.transport.azure_blob", json.RawMessage(config))
	require.NoError(t, err, "loading the transport")
	tr, ok := mod.(*Transport)
	require.True(t, ok, "loaded a %T", mod)
	return tr, unload
}

// loggedEntries is the entries of the JSON log in logFile so far with
// message msg and the expiry field expiry.
func loggedEntries(t *testing.T, logFile, msg string, expiry time.Time) []logEntry {
	t.Helper()
	data, err := os.ReadFile(logFile)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	var entries []logEntry
	for _, line := range lines[:len(lines)-1] { // the last one is not finished
		var e logEntry
		require.NoError(t, json.Unmarshal([]byte(line), &e), "log line %s", line)
		if e.Msg == msg && e.Expiry.Equal(expiry) {
			entries = append(entries, e)
		}
	}
	return entries
}

// TestTransportSchedulesSASTokenExpiryWarnings: a sas_token's expiry is
// warned of a day, an hour and a minute before, and logged as an error when
// it passes, each naming the expiry; thresholds already past when the
// config loads are not logged, and a config that was unloaded logs nothing
// more.
func TestTransportSchedulesSASTokenExpiryWarnings(t *testing.T) {
	const (
		soonMsg    = "sas_token expires soon; replace it and reload"
		expiredMsg = "sas_token has expired; Azure refuses every request until it is replaced"
	)
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	// token is a container read token with left to live (as se, in whole
	// seconds), and its expiry.
	token := func(left time.Duration) (string, time.Time) {
		v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos", Expiry: time.Now().Add(left)}
		q, err := v.Sign(key)
		require.NoError(t, err)
		tok, err := sas.Parse(q.Encode())
		require.NoError(t, err)
		return q.Encode(), tok.Expiry
	}
	config := func(token string) string {
		return fmt.Sprintf(`{"endpoint": "http://127.0.0.1:1/devstoreaccount1", "container": "photos", "sas_token": %q}`, token)
	}

	t.Run("scheduled, and stopped by Cleanup", func(t *testing.T) {
		tok, _ := token(2 * time.Hour)
		tr := &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: "http://127.0.0.1:1/devstoreaccount1", Container: "photos", SASToken: tok}}}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		require.NoError(t, tr.Provision(ctx))
		// Two hours left: the day-before warning is past; an hour, a minute
		// and the expiry itself are ahead.
		require.Len(t, tr.reader.expiryTimers, 3, "warnings scheduled")
		require.NoError(t, tr.Cleanup())
		for i, timer := range tr.reader.expiryTimers {
			assert.False(t, timer.Stop(), "warning %d still scheduled after Cleanup", i)
		}
	})

	t.Run("logged", func(t *testing.T) {
		// The three configs log to one file, as Caddy's log would be, told
		// apart by the expiry their entries name.
		logFile := filepath.Join(t.TempDir(), "caddy.log")
		logged := func(msg string, expiry time.Time) []logEntry { return loggedEntries(t, logFile, msg, expiry) }
		// The times leave seconds for loading a config under -race on a
		// busy machine: each warning is an event awaited, never a window.
		// A minute and 4 s left: the minute-before warning is due in 3-4 s;
		// the day and the hour before are past, and the expiry a minute away.
		soonToken, soonExpiry := token(time.Minute + 4*time.Second)
		loadLoggedTransport(t, logFile, config(soonToken))
		// 6 s left, and unloaded at once, as by a reload: its expiry must
		// never be logged.
		unloadedToken, unloadedExpiry := token(6 * time.Second)
		_, unload := loadLoggedTransport(t, logFile, config(unloadedToken))
		unload()
		// 8 s left, so seconds after the unloaded one, which is checked
		// once this one has expired: only the expiry is ahead.
		expiringToken, expiringExpiry := token(8 * time.Second)
		loadLoggedTransport(t, logFile, config(expiringToken))
		require.True(t, expiringExpiry.After(unloadedExpiry), "the unloaded token must expire first")

		// checkEntry checks that one entry was logged, at level.
		checkEntry := func(what string, entries []logEntry, level string) {
			t.Helper()
			if assert.Len(t, entries, 1, "%s: entries %+v", what, entries) {
				assert.Equal(t, level, entries[0].Level, "%s: level", what)
				assert.Equal(t, "http.reverse_proxy.transport.azure_blob", entries[0].Logger, "%s: logger", what)
			}
		}
		assert.Eventually(t, func() bool { return len(logged(soonMsg, soonExpiry)) > 0 }, 20*time.Second, 20*time.Millisecond,
			"no %q warning a minute before the expiry at %v", soonMsg, soonExpiry)
		checkEntry("a minute before", logged(soonMsg, soonExpiry), "warn")
		assert.Empty(t, logged(expiredMsg, soonExpiry), "a token with a minute left was logged as expired")

		assert.Eventually(t, func() bool { return len(logged(expiredMsg, expiringExpiry)) > 0 }, 20*time.Second, 20*time.Millisecond,
			"no %q error at the expiry at %v", expiredMsg, expiringExpiry)
		checkEntry("at the expiry", logged(expiredMsg, expiringExpiry), "error")
		assert.Empty(t, logged(soonMsg, expiringExpiry), "thresholds already past when the config loaded were logged")

		assert.Empty(t, logged(expiredMsg, unloadedExpiry), "an unloaded config logged its token's expiry")
		assert.Empty(t, logged(soonMsg, unloadedExpiry), "an unloaded config logged a warning")
	})
}

func TestLiteralSecretsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		tr   Transport
		want string
	}{
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{AccountKey: "{env.AZURE_STORAGE_KEY}"}}}, ""},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{AccountKey: "{file./run/secrets/azkey}"}}}, ""},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{AccountKey: sas.DevAccountKey}}}, ""}, // Azurite's, public
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{ConnectionString: "UseDevelopmentStorage=true"}}}, ""},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{Anonymous: true}}}, ""},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{AccountKey: "ZHVtbXk="}}}, "account_key"},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{ConnectionString: "AccountName=a;AccountKey=ZHVtbXk="}}}, "connection_string"},
		{Transport{ReadOrigin: ReadOrigin{Origin: Origin{SASToken: "sv=2025-11-05&sig=x"}}}, "sas_token"},
	} {
		assert.Equal(t, tc.want, tc.tr.literalSecret(), "%+v", tc.tr)
	}
}

// TestTransportReadsTheNameFromThePathAlone: behind the azure_blob handler
// the transport sends the name the handler mapped, escaped as the handler
// wrote it into the path; a path rewritten after the handler, or a mapping
// variable set by anything but the handler, gets every check of the
// transport used alone.
func TestTransportReadsTheNameFromThePathAlone(t *testing.T) {
	azure := azurestub.Scripted(t)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	h := &Handler{Container: "photos", Prefix: "public/", logger: zap.NewNop()}

	serve := func(target string, between func(r *http.Request)) *http.Response {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		var resp *http.Response
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			between(r)
			var err error
			resp, err = tr.RoundTrip(atUpstream(r, azure))
			return err
		})
		require.NoError(t, h.ServeHTTP(httptest.NewRecorder(), r, next), "%s", target)
		require.NotNil(t, resp, "%s: the transport was not reached", target)
		_ = resp.Body.Close()
		return resp
	}

	resp := serve("http://x/2024/a%20b+c%23d.jpg", func(*http.Request) {})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	got := azure.Requests()
	require.Len(t, got, 1, "upstream requests")
	assert.Equal(t, "/devstoreaccount1/photos/public/2024/a%20b+c%23d.jpg", got[0].EscapedPath, "the handler's escaping")
	tok, err := sas.Parse(got[0].RawQuery)
	require.NoError(t, err)
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(t, err)
	assert.NoError(t, tok.VerifyService(key, "photos", "public/2024/a b+c#d.jpg", ""), "the token is not for the mapped name")

	for _, tc := range []struct {
		name    string
		between func(r *http.Request)
		status  int
	}{
		{"path rewritten to a dot segment", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/photos/a/../b.jpg", "" }, http.StatusBadRequest},
		{"path rewritten to another container", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/videos/b.jpg", "" }, http.StatusNotFound},
		{"variable replaced by a string", func(r *http.Request) {
			caddyhttp.SetVar(r.Context(), varMapping, "/photos/a/../b.jpg")
			r.URL.Path, r.URL.RawPath = "/photos/a/../b.jpg", ""
		}, http.StatusBadRequest},
	} {
		resp := serve("http://x/ok.jpg", tc.between)
		assert.Equal(t, tc.status, resp.StatusCode, tc.name)
	}
	assert.Len(t, azure.Requests(), 1, "a refused request reached Azure")
}
