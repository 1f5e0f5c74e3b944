package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/blobnames"
)

// TestOddBlobNamesAgainstAzurite uploads every odd name to Azurite and reads
// each back byte-exact through Caddy, with a token per blob and with one
// container token; names Azure cannot hold get our 400, without asking it.
func TestOddBlobNamesAgainstAzurite(t *testing.T) {
	require.GreaterOrEqual(t, len(blobnames.Odd), 40, "odd names")
	az := azurite.Start(t)
	az.CreateContainer(t, "odd", false)
	content := make(map[string][]byte, len(blobnames.Odd))
	for i, name := range blobnames.Odd {
		require.NotContains(t, content, name, "a name is twice in the table")
		content[name] = fmt.Appendf(nil, "blob %d: %s", i, name)
		az.Upload(t, "odd", name, content[name], "application/octet-stream")
	}
	t.Setenv("AZ_TEST_KEY", az.Key)

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /b/* {
		strip_prefix /b
		endpoint %[1]s
		container odd
		account_key {env.AZ_TEST_KEY}
	}
	azure_blob /c/* {
		strip_prefix /c
		endpoint %[1]s
		container odd
		account_key {env.AZ_TEST_KEY}
		scope container
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint))

	for _, scope := range []string{"/b", "/c"} {
		for _, name := range blobnames.Odd {
			path := scope + "/" + azurite.EscapeBlobPath(name)
			resp, body := fetch(t, tester, http.MethodGet, path)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s (%.60q)", path[:min(len(path), 80)], name)
			assert.Equal(t, string(content[name]), string(body), "GET %s (%.60q)", path[:min(len(path), 80)], name)
		}
		for _, path := range blobnames.Unholdable {
			resp, body := fetch(t, tester, http.MethodGet, scope+path)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "GET %.80s, want our 400", scope+path)
			assert.Equal(t, "error 400", string(body), "GET %.80s, want our 400", scope+path)
		}
	}
	// Azure is not asked for the names it cannot hold: Azurite's access log
	// shows one GET per odd name and scope, and none else. It logs a request
	// when it answers, so a last request, once logged, marks the end of the
	// lines of those before it.
	resp, _ := fetch(t, tester, http.MethodGet, "/b/"+azurite.EscapeBlobPath(blobnames.Odd[0]))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the last request")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		gets := strings.Count(az.Output(1<<20), `"GET /`+az.Account+`/odd/`)
		assert.Equal(c, 2*len(blobnames.Odd)+1, gets, "GETs Azurite logged")
	}, 5*time.Second, 50*time.Millisecond)
	figure(t, "%d odd blob names served from Azurite in blob and container scope, byte-exact; %d names Azure cannot hold answered 400 by us",
		len(blobnames.Odd), len(blobnames.Unholdable))
}
