package caddymodule_test

import (
	"net"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment
// ago (Caddy cannot be told to listen on port 0 and report the port).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runCaddyInProcess adapts a Caddyfile and runs it in this process until the test
// ends. When an earlier test of the package left caddytest's server running
// (a full, non-race `go test`), its admin endpoint comes back afterwards so
// later caddytest tests find it.
func runCaddyInProcess(t testing.TB, caddyfile string) {
	t.Helper()
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warnings, err := adapter.Adapt([]byte(caddyfile), nil)
	require.NoError(t, err, "adapting the Caddyfile")
	if len(warnings) > 0 {
		t.Logf("adapt warnings: %v", warnings)
	}
	wasRunning := caddy.ActiveContext().Context != nil
	require.NoError(t, caddy.Load(cfg, true), "starting Caddy")
	t.Cleanup(func() {
		assert.NoError(t, caddy.Stop(), "stopping Caddy")
		if wasRunning {
			restore, _, err := adapter.Adapt([]byte(caddyGlobals), nil)
			if err == nil {
				err = caddy.Load(restore, true)
			}
			assert.NoError(t, err, "restoring caddytest's admin endpoint")
		}
	})
}
