package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// verifyingUpstream stands in for Azure Blob Storage at full speed: it
// answers every GET with body, but only after checking the request's SAS
// with the sas package (signature, expiry, and that it names the blob
// asked for), so a wrong token is counted, not served. Requests without a
// query are the plain reverse_proxy reference and are served unchecked.
// It records nothing, unlike internal/azurestub, so that allocs/op and B/op
// stay the proxy's.
func verifyingUpstream(tb testing.TB, body []byte) (*httptest.Server, *atomic.Int64) {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(tb, err)
	refused := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			container, blob, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"+sas.DevAccountName+"/"), "/")
			tok, err := sas.Parse(r.URL.RawQuery)
			if err == nil {
				if tok.Resource == sas.ResourceContainer {
					blob = ""
				}
				err = tok.VerifyService(key, container, blob, "")
			}
			if err != nil || !tok.Expiry.After(time.Now()) {
				refused.Add(1)
				w.WriteHeader(http.StatusForbidden)
				return
			}
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv, refused
}

// proxyRoutes runs Caddy in this process with the routes BenchmarkProxy
// and TestProxyAllocations read a 1 KiB blob through: /plain/ (plain
// reverse_proxy with rewrite), /blob/ (a token per blob), /container/
// (one container token) and /token/ (a sas_token), in front of an upstream
// that verifies every signature. It returns Caddy's port, the body, and
// the count of signatures the upstream refused.
func proxyRoutes(tb testing.TB) (int, []byte, *atomic.Int64) {
	body := bytes.Repeat([]byte("x"), 1024)
	upstream, refused := verifyingUpstream(tb, body)
	k, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	require.NoError(tb, err)
	token, err := (&sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos",
		Expiry: time.Now().Add(24 * time.Hour)}).Sign(k)
	require.NoError(tb, err)
	tb.Setenv("AZ_BENCH_TOKEN", token.Encode())
	port := freePort(tb)
	endpoint := upstream.URL + "/" + sas.DevAccountName
	runCaddyInProcess(tb, fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	handle_path /plain/* {
		rewrite * /%[3]s/photos{uri}
		reverse_proxy %[2]s
	}
	azure_blob /blob/* {
		strip_prefix /blob
		endpoint %[4]s
		container photos
		account_key {env.AZ_TEST_KEY}
	}
	azure_blob /container/* {
		strip_prefix /container
		endpoint %[4]s
		container photos
		account_key {env.AZ_TEST_KEY}
		scope container
	}
	azure_blob /token/* {
		strip_prefix /token
		endpoint %[4]s
		container photos
		sas_token {env.AZ_BENCH_TOKEN}
	}
}`, port, strings.TrimPrefix(upstream.URL, "http://"), sas.DevAccountName, endpoint))
	return port, body, refused
}

// BenchmarkProxy reads a 1 KiB blob through Caddy in this process: plain
// reverse_proxy to the upstream (the reference), and the azure_blob
// directive with a token per blob, one container token, and a sas_token,
// all against an upstream that verifies every signature. allocs/op and
// B/op include the client and the upstream, the same in every case: the
// difference to reverse_proxy is what the plugin adds.
//
//	go test -run '^$' -bench BenchmarkProxy -benchmem -count 6 ./caddymodule/
func BenchmarkProxy(b *testing.B) {
	port, body, refused := proxyRoutes(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	for _, route := range []string{"plain", "blob", "container", "token"} {
		b.Run(route, func(b *testing.B) {
			// A few blobs, as a CDN origin sees: the per-blob cache stays warm.
			urls := make([]string, 64)
			for i := range urls {
				urls[i] = fmt.Sprintf("http://127.0.0.1:%d/%s/img/%02d.jpg", port, route, i)
			}
			before := refused.Load()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			// assert, not require: FailNow must not run on RunParallel's
			// goroutines. The assertions run only on a failure, so that
			// their own allocations are not counted.
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					resp, err := client.Get(urls[i%len(urls)])
					if err != nil {
						assert.NoError(b, err, route)
						return
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(body)) {
						assert.NoError(b, err, "%s: reading the body", route)
						assert.Equal(b, http.StatusOK, resp.StatusCode, "%s: status", route)
						assert.Equal(b, int64(len(body)), n, "%s: bytes", route)
						return
					}
				}
			})
			assert.Equal(b, int64(0), refused.Load()-before, "%s: signatures the upstream refused", route)
		})
	}
}
