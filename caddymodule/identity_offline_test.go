package caddymodule_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestIdentityValidatesOfflineAndRetries: `caddy validate` of a config
// with identity managed, and loading it, connect to nothing (so CI can
// validate it offline); the first request asks for a key. While the
// identity is refused, reads answer 503 and the log says why, naming the
// identity's kind; once it is granted, the retry gets a key and reads
// succeed, without a reload.
func TestIdentityValidatesOfflineAndRetries(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := []byte("SIGNED ONCE THE IDENTITY IS THERE")
	az.Upload(t, "photos", "a.txt", data, "text/plain")
	entra := newIdentityStandIn(t, identityTenant)
	entra.refusing.Store(true)
	// A client ID of its own: MSAL keeps managed-identity tokens
	// process-wide, and another test's must not stand in for this one's.
	site := fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		endpoint %s
		container photos
		identity managed 0ff1111e-0000-4000-8000-000000000006
		tls_trust_pool file %s
	}
}`, az.Endpoint, az.CertFile)

	require.NoError(t, loadError(t, caddyGlobals+site), "caddy validate")
	assert.Zero(t, entra.conns.Load(), "connections to the managed-identity endpoint while validating")
	assert.NotContains(t, az.Output(1000), "comp=userdelegationkey", "Azurite was asked for a key while validating")

	logFile := filepath.Join(t.TempDir(), "caddy.log")
	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+site)
	assert.Zero(t, entra.conns.Load(), "connections to the managed-identity endpoint before a request needed a key")

	resp, _ := fetch(t, tester, http.MethodGet, "/a.txt")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a read while the identity is refused")
	const logged = `"msg":"no user delegation key: getting one failed, so requests that need one get 503 until it succeeds"`
	var line string
	require.Eventually(t, func() bool {
		logs, err := os.ReadFile(logFile)
		require.NoError(t, err)
		for l := range strings.SplitSeq(string(logs), "\n") {
			if strings.Contains(l, logged) {
				line = l
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the failure was not logged")
	for _, want := range []string{`"level":"error"`, `"logger":"http.reverse_proxy.transport.azure_blob"`, `"identity":"managed"`,
		`"account":"devstoreaccount1"`, `"retry_in":1`, "Identity not found"} {
		assert.Contains(t, line, want, "the log line")
	}
	t.Logf("logged: %s", line)

	entra.refusing.Store(false)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, body := fetch(t, tester, http.MethodGet, "/a.txt")
		assert.Equal(c, http.StatusOK, resp.StatusCode, "a read once the identity is granted")
		assert.True(c, bytes.Equal(data, body), "the blob's bytes")
	}, 20*time.Second, 100*time.Millisecond, "reads did not recover")
	figure(t, "identity managed: validated and loaded with 0 connections to the identity endpoint; 503 while refused, 200 after the retry (%d connections)",
		entra.conns.Load())
}

// TestAzureSASIdentityFailuresAreCounted: an azure_sas that signs with an
// identity of its own, which no azure_blob shares, counts its failed key
// requests in caddy_azure_blob_delegation_key_failures_total, and answers
// 503 while it has no key.
func TestAzureSASIdentityFailuresAreCounted(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "uploads", false)
	entra := newIdentityStandIn(t, identityTenant)
	entra.refusing.Store(true)
	tester := startCaddy(t, caddyGlobalsWith("\tgrace_period 1ns\n\tmetrics\n")+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_sas /sas {
		endpoint %s
		container uploads
		identity managed 0ff1111e-0000-4000-8000-000000000007
		tls_trust_pool file %s
	}
}`, az.Endpoint, az.CertFile))

	resp, _ := fetch(t, tester, http.MethodGet, "/sas?blob=a.txt")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a URL asked for while the identity is refused")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		failures, ok := metricValue(scrapeMetrics(t), "caddy_azure_blob_delegation_key_failures_total",
			`account="devstoreaccount1",container="uploads"`)
		assert.True(c, ok, "the metric is exported for azure_sas's account and container")
		assert.GreaterOrEqual(c, failures, 1.0, "failed key requests counted")
	}, 10*time.Second, 100*time.Millisecond)
}
