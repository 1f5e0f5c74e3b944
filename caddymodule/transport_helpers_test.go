package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// provisionTransport provisions tr as Caddy would and captures its logs.
func provisionTransport(t *testing.T, tr *Transport) *observer.ObservedLogs {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	require.NoError(t, tr.Provision(ctx), "Provision")
	t.Cleanup(func() { assert.NoError(t, tr.Cleanup(), "Cleanup") })
	core, logs := observer.New(zapcore.DebugLevel)
	tr.reader.logger = zap.New(core)
	return logs
}

// devTransport reads container photos of Azurite's account at endpoint,
// signing with its key.
func devTransport(endpoint string) *Transport {
	return &Transport{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: endpoint + "/devstoreaccount1", Container: "photos", AccountKey: sas.DevAccountKey}}}
}

// atUpstream addresses r to the stand-in for Azure, as reverse_proxy does
// with the upstream it picked before it calls the transport.
func atUpstream(r *http.Request, azure *azurestub.Server) *http.Request {
	r.URL.Scheme, r.URL.Host = "", strings.TrimPrefix(azure.URL, "http://")
	return r
}

// clientRequest is a client's request carrying what must not reach Azure
// (credentials, x-ms-* headers, a method override) beside what must (a
// range and a condition).
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
