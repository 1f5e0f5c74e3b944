package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddy-azure-sas/caddy-azure-sas/caddymodule" // registers azure_blob with Caddy
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// The caddytest server is one per process, so every test that starts one
// lives in this package and none runs in parallel. Its ports are picked
// free when the test binary starts, so a developer's own Caddy or Azurite
// keeps its own: Caddyfiles write the sites' port as {$TEST_PORT}, and
// clients the site as testSite.
var (
	adminPort = pickFreePort()
	testPort  = strconv.Itoa(pickFreePort())
	httpsPort = pickFreePort()
	// testSite is the tests' site, as a client writes it.
	testSite = "http://localhost:" + testPort
	// adminURL is the test server's admin API.
	adminURL = fmt.Sprintf("http://localhost:%d", adminPort)
)

// testPortEnv is the variable Caddyfiles read the sites' port from.
const testPortEnv = "TEST_PORT"

// pickFreePort is a TCP port on 127.0.0.1 that nothing listened on a
// moment ago. Caddy cannot listen on port 0 and say which port it took,
// so the port is released before Caddy binds it: another process could
// take it between, which a test then reports as a port in use.
func pickFreePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("picking a free port: %v", err))
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// caddyGlobalsWith is the global options block of every test config, with
// options added.
func caddyGlobalsWith(options string) string {
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%[3]d
	http_port %[2]s
	https_port %[4]d
	debug
	log {
		output file %[1]s {
			roll_disabled
		}
		format json
		level DEBUG
	}
%[5]s}
`, suiteLog, testPort, adminPort, httpsPort, options)
}

// testLog adds to options a log of a test's own, in file: every message
// at debug level, as JSON.
func testLog(file, options string) string {
	return options + fmt.Sprintf("\tlog test {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel DEBUG\n\t}\n", file)
}

// caddyGlobals suits most tests: no grace period on reloads.
var caddyGlobals = caddyGlobalsWith("\tgrace_period 1ns\n")

// startCaddy loads config and, before Caddy stops, passes what the admin
// API shows (config, upstreams, metrics) through suiteSaw.
func startCaddy(t *testing.T, config string) *caddytest.Tester {
	t.Helper()
	caddyStarted.Store(true)
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")
	t.Cleanup(func() {
		for _, path := range []string{"/config/", "/reverse_proxy/upstreams", "/metrics"} {
			resp, err := http.Get(adminURL + path)
			if !assert.NoError(t, err, "admin GET %s", path) {
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.NoError(t, err, "admin GET %s: reading the body", path)
			suiteSaw("admin GET "+path, body)
		}
	})
	return tester
}

// fetch sends a request through the test server, with header as name,
// value pairs, and returns the response with its body read.
func fetch(t *testing.T, tester *caddytest.Tester, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, testSite+path, nil)
	require.NoError(t, err, "%s %s", method, path)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := tester.Client.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "%s %s: reading the body", method, path)
	suiteSawResponse(resp, body)
	return resp, body
}

// adminGet reads path of the test server's admin API, which must answer
// 200, and passes the answer through the suite's secret search.
func adminGet(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(adminURL + path)
	require.NoError(t, err, "admin GET %s", path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "admin GET %s: reading the body", path)
	require.Equal(t, http.StatusOK, resp.StatusCode, "admin GET %s: %s", path, body)
	suiteSaw("admin GET "+path, body)
	return body
}

// loadConfig replaces Caddy's config through the admin API, as caddy
// reload does.
func loadConfig(caddyfile string) error {
	resp, err := http.Post(adminURL+"/load", "text/caddyfile", strings.NewReader(caddyfile))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST /load: %d %s", resp.StatusCode, body)
	}
	return nil
}

// loadError adapts a Caddyfile and provisions it as `caddy validate` does,
// without serving, and returns the first error.
func loadError(t *testing.T, caddyfile string) error {
	t.Helper()
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	require.NoError(t, json.Unmarshal(adapted, &cfg))
	return caddy.Validate(&cfg)
}

// freePort is a port for a server of a test's own, picked as
// pickFreePort picks one.
func freePort(t testing.TB) int {
	t.Helper()
	return pickFreePort()
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

// scrapeMetrics reads the admin endpoint's /metrics.
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	return string(adminGet(t, "/metrics"))
}

// metricValue finds the sample of name with exactly labels (sorted, as
// Prometheus writes them).
func metricValue(metrics, name, labels string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// lastLogLines is the end of a log, for a failure message.
func lastLogLines(logs []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// passwordHash is a bcrypt hash of password for basic_auth, at bcrypt's
// least cost: Caddy checks it on every request a test sends (Caddy's own
// cost, 14, takes seconds a check under the race detector).
func passwordHash(t *testing.T, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(t, err)
	return string(hash)
}
