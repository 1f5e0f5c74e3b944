package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// logContainerNotFound is the line the transport logs for a container that
// does not exist.
const logContainerNotFound = "container not found in the storage account: check the container name, and the account or endpoint; " +
	"every read answers 502 until the container exists"

// TestMissingContainerAgainstAzurite: a container the configuration names
// that Azurite does not have is a configuration mistake, in every way the
// plugin reads blobs (the directive's proxy, a fallback chain, redirects
// with their HEAD probes, the transport in a reverse_proxy of one's own):
// 502 with no-store, never a fall-through to the next origin, and one
// error line naming the account and container however many requests fail.
// A missing blob in a container that exists is still a 404 kept ten
// seconds, and a container that a client's path names (a transport without
// container) is still the client's 404.
func TestMissingContainerAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	az.Upload(t, "photos", "cat.jpg", []byte("PURR"), "image/jpeg")
	az.Upload(t, "photos", "docs/index.html", []byte("<h1>docs</h1>"), "text/html")
	t.Setenv("AZ_TEST_KEY", az.Key)
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
(origin) {
	strip_prefix /{args[0]}
	endpoint %[1]s
	account_key {env.AZ_TEST_KEY}
}

http://localhost:{$TEST_PORT} {
	azure_blob /plain/* {
		import origin plain
		container plain-typo
	}
	azure_blob /chain/* {
		import origin chain
		container chain-typo
		fallback {
			container photos
		}
	}
	azure_blob /chain2/* {
		import origin chain2
		container photos
		fallback {
			container chain2-typo
		}
	}
	azure_blob /ri/* {
		import origin ri
		container index-typo
		index index.html
		redirect
	}
	azure_blob /rf/* {
		import origin rf
		container redirect-typo
		redirect
		fallback {
			container photos
		}
	}
	handle_path /t/* {
		reverse_proxy 127.0.0.1:%[2]d {
			transport azure_blob {
				endpoint %[1]s
				container standalone-typo
				account_key {env.AZ_TEST_KEY}
			}
		}
	}
	azure_blob /good/* {
		import origin good
		container photos
	}
	azure_blob /goodr/* {
		import origin goodr
		container photos
		index index.html
		redirect
	}
	handle_path /any/* {
		reverse_proxy 127.0.0.1:%[2]d {
			transport azure_blob {
				endpoint %[1]s
				account_key {env.AZ_TEST_KEY}
			}
		}
	}
}`, az.Endpoint, az.Port))

	// The configuration reads Azurite: what exists is served.
	resp, body := fetch(t, tester, http.MethodGet, "/good/cat.jpg")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /good/cat.jpg")
	require.Equal(t, "PURR", string(body), "GET /good/cat.jpg")
	resp, _ = fetch(t, tester, http.MethodGet, "/any/photos/cat.jpg")
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /any/photos/cat.jpg")

	const requests = 20
	// A redirect's probes log as the handler that redirects.
	const transportLogger, handlerLogger = "http.reverse_proxy.transport.azure_blob", "http.handlers.azure_blob"
	for _, tc := range []struct{ what, path, container, logger string }{
		{"the directive", "/plain/cat.jpg", "plain-typo", transportLogger},
		{"a fallback chain, its first origin missing", "/chain/cat.jpg", "chain-typo", transportLogger},
		{"a fallback chain, its fallback missing", "/chain2/missing.jpg", "chain2-typo", transportLogger},
		{"redirect with index", "/ri/docs/", "index-typo", handlerLogger},
		{"redirect with fallback", "/rf/cat.jpg", "redirect-typo", handlerLogger},
		{"the transport in a reverse_proxy", "/t/standalone-typo/cat.jpg", "standalone-typo", transportLogger},
	} {
		for i := range requests {
			method := http.MethodGet
			if i%2 == 1 {
				method = http.MethodHead // Azure's answer to a HEAD has no body to tell the code in
			}
			resp, body := fetch(t, tester, method, tc.path)
			if !assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "%s: %s %s", tc.what, method, tc.path) {
				break
			}
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "%s: %s %s: Cache-Control", tc.what, method, tc.path)
			assert.Empty(t, body, "%s: %s %s", tc.what, method, tc.path)
			assert.Empty(t, resp.Header.Get("Location"), "%s: %s %s: redirected to a container that does not exist", tc.what, method, tc.path)
		}
		lines := containerNotFoundLines(t, logFile, tc.container)
		assert.Len(t, lines, 1, "%s: log lines about container %s after %d failed reads", tc.what, tc.container, requests)
		for _, line := range lines {
			assert.Equal(t, map[string]any{
				"level": "error", "logger": tc.logger, "msg": logContainerNotFound,
				"account": az.Account, "container": tc.container,
			}, withoutTime(line), "%s: the log line", tc.what)
		}
	}

	// Missing blobs, not containers: unchanged.
	for _, path := range []string{"/good/missing.jpg", "/goodr/missing.jpg"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, _ := fetch(t, tester, method, path)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", method, path)
			assert.Equal(t, "max-age=10", resp.Header.Get("Cache-Control"), "%s %s: Cache-Control", method, path)
		}
	}
	resp, _ = fetch(t, tester, http.MethodGet, "/any/photos/missing.jpg")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a transport without container: a missing blob")
	// A transport without container reads the container the client's path
	// names: a wrong one is the client's miss, not the configuration's.
	resp, _ = fetch(t, tester, http.MethodGet, "/any/no-such-box/cat.jpg")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a transport without container: a container the client named")
	assert.Empty(t, containerNotFoundLines(t, logFile, "no-such-box"), "a container a client named was logged as a configuration mistake")
	assert.Empty(t, containerNotFoundLines(t, logFile, "photos"), "a missing blob was logged as a missing container")
}

// containerNotFoundLines is the entries of the JSON log in logFile that
// say container is missing.
func containerNotFoundLines(t *testing.T, logFile, container string) []map[string]any {
	t.Helper()
	return logEntries(t, logFile, func(e map[string]any) bool {
		return e["msg"] == logContainerNotFound && e["container"] == container
	})
}

// logEntries is the entries of the JSON log in logFile that keep keeps.
func logEntries(t *testing.T, logFile string, keep func(map[string]any) bool) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(logFile)
	require.NoError(t, err)
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &e), "log line %s", line)
		if keep(e) {
			entries = append(entries, e)
		}
	}
	return entries
}

// withoutTime is a log entry without its timestamp.
func withoutTime(e map[string]any) map[string]any {
	rest := make(map[string]any, len(e))
	for k, v := range e {
		if k != "ts" {
			rest[k] = v
		}
	}
	return rest
}
