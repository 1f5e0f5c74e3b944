//go:build !race

package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proxyAllocMargin is what azure_blob may allocate per request beyond
// plain reverse_proxy: it adds 1 to 3 (309 against 310 to 312 on Go
// 1.26.8), among them the X-Content-Type-Options header it sets; the
// bound is twice the most.
const proxyAllocMargin = 6

// TestProxyAllocations holds the claim of docs/performance.md: reading a
// blob through azure_blob allocates at most proxyAllocMargin more per
// request than plain reverse_proxy with rewrite, with a token per blob,
// one container token or a sas_token. Allocations are counted, not timed;
// -race adds its own, so ./xcaddy.sh test runs this in its step without.
func TestProxyAllocations(t *testing.T) {
	port, body, refused := proxyRoutes(t)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	perRequest := func(route string) float64 {
		urls := make([]string, 64)
		for i := range urls {
			urls[i] = fmt.Sprintf("http://127.0.0.1:%d/%s/img/%02d.jpg", port, route, i)
		}
		i := 0
		get := func() {
			resp, err := client.Get(urls[i%len(urls)])
			i++
			if err != nil {
				require.NoError(t, err, route)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(body)) {
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s: status", route)
				require.Equal(t, int64(len(body)), n, "%s: bytes", route)
			}
		}
		for range urls {
			get() // the tokens signed and cached, the connection open
		}
		return testing.AllocsPerRun(1000, get)
	}
	plain := perRequest("plain")
	counts := map[string]float64{}
	for _, route := range []string{"blob", "container", "token"} {
		counts[route] = perRequest(route)
		assert.LessOrEqual(t, counts[route], plain+proxyAllocMargin, "%s: allocations per request, against %.0f for plain reverse_proxy", route, plain)
	}
	assert.Zero(t, refused.Load(), "signatures the upstream refused")
	figure(t, "allocations per 1 KiB read, client and upstream included: plain reverse_proxy %.0f; azure_blob a token per blob %.0f, scope container %.0f, sas_token %.0f (bound: plain + %d)",
		plain, counts["blob"], counts["container"], counts["token"], proxyAllocMargin)
}
