package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// loadDuration is how long each load test sends requests: 30 s, or
// LOAD_SECONDS.
func loadDuration(t *testing.T) time.Duration {
	if s := os.Getenv("LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "LOAD_SECONDS=%q is not a positive number of seconds", s)
		require.Positive(t, n, "LOAD_SECONDS=%q is not a positive number of seconds", s)
		return time.Duration(n) * time.Second
	}
	return 30 * time.Second
}

// loadResult counts what a load run's clients saw.
type loadResult struct {
	requests, failures atomic.Int64
	mu                 sync.Mutex
	firstFailures      []string
}

func (r *loadResult) fail(format string, args ...any) {
	r.failures.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.firstFailures) < 10 {
		r.firstFailures = append(r.firstFailures, fmt.Sprintf(format, args...))
	}
}

// runLoad sends GETs from workers concurrent clients over keep-alive until
// ctx ends: request i, numbered by next before it starts, goes to
// target(i), and its body must be want(i). Any status but 200, a transport
// error or wrong bytes is a failure.
func runLoad(ctx context.Context, workers int, next *atomic.Int64, target func(i int64) string, want func(i int64) []byte) *loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	res := new(loadResult)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				res.requests.Add(1)
				resp, err := client.Get(target(i))
				if err != nil {
					res.fail("GET %s: %v", target(i), err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				suiteSawResponse(resp, nil) // the body is checked below
				switch {
				case err != nil:
					res.fail("GET %s: %d, reading: %v", target(i), resp.StatusCode, err)
				case resp.StatusCode != http.StatusOK:
					res.fail("GET %s: %d", target(i), resp.StatusCode)
				case !bytes.Equal(body, want(i)):
					res.fail("GET %s: %d bytes, not the blob's", target(i), len(body))
				}
			}
		})
	}
	wg.Wait()
	return res
}

// azuriteBehindStub is a stand-in for Azure that records each request on
// its way to Azurite, at azuriteURL, and the status Azurite answered, so
// that a test can count the tokens and check who signed them.
func azuriteBehindStub(t *testing.T, azuriteURL string) *azurestub.Server {
	target, err := url.Parse(azuriteURL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	rec := azurestub.New(t)
	rec.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		proxy.ServeHTTP(w, r)
		return true
	})
	return rec
}

// TestTokenRolloverUnderLoad reads from Azurite through Caddy for
// LOAD_SECONDS with tokens that live 3 s and renew 1 s before expiry, with
// a token per blob and with one container token at once: no client may see
// anything but 200 and the blob's bytes, while Azurite accepts many
// distinct tokens of each kind.
func TestTokenRolloverUnderLoad(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "media", false)
	const blobs = 16
	content := make([][]byte, blobs)
	for i := range content {
		content[i] = bytes.Repeat([]byte{byte('a' + i)}, 8<<10+i)
		az.Upload(t, "media", fmt.Sprintf("clip-%02d.mp4", i), content[i], "video/mp4")
	}
	rec := azuriteBehindStub(t, fmt.Sprintf("http://127.0.0.1:%d", az.Port))
	t.Setenv("AZ_TEST_KEY", az.Key)
	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	handle_path /blob/* {
		azure_blob {
			endpoint %[1]s/devstoreaccount1
			container media
			account_key {env.AZ_TEST_KEY}
			ttl 3s
			renew_before 1s
		}
	}
	handle_path /container/* {
		azure_blob {
			endpoint %[1]s/devstoreaccount1
			container media
			account_key {env.AZ_TEST_KEY}
			scope container
			ttl 3s
			renew_before 1s
		}
	}
}`, rec.URL))

	duration := loadDuration(t)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	res := runLoad(ctx, 8, new(atomic.Int64), func(i int64) string {
		scope := [2]string{"blob", "container"}[i%2]
		return fmt.Sprintf(testSite+"/%s/clip-%02d.mp4", scope, (i/2)%blobs)
	}, func(i int64) []byte { return content[(i/2)%blobs] })

	seen := rec.Requests()
	tokens := map[string]map[string]bool{"b": {}, "c": {}}
	var odd []string // what Azurite answered other than 200, and to what
	for _, r := range seen {
		if r.Status != http.StatusOK {
			odd = append(odd, fmt.Sprintf("%d to %s %s (sr=%s, se=%s)", r.Status, r.Method, r.Path, r.Query.Get("sr"), r.Query.Get("se")))
		}
		if set := tokens[r.Query.Get("sr")]; set != nil {
			set[r.Query.Get("sig")] = true
		}
	}
	assert.Zero(t, res.failures.Load(), "of %d requests failed, first: %q", res.requests.Load(), res.firstFailures)
	// What users rely on is that every client got 200 and the blob. A
	// token that expires as it reaches Azure gets a 403 that the transport
	// heals with a new token and one resend: each such answer is one more
	// request at Azure than clients sent. Anything else is a failure.
	resent := len(seen) - int(res.requests.Load())
	assert.Equal(t, resent, len(odd), "Azurite's answers other than 200, against the resends (%d requests at Azurite, %d sent by clients): %v",
		len(seen), res.requests.Load(), odd)
	for _, answer := range odd {
		assert.True(t, strings.HasPrefix(answer, "403 "), "Azurite answered %s: only an expiring token's 403 is healed", answer)
	}
	figure(t, "%v of load: %d requests, %d failed; Azurite got %d, answered %d with 403 and took the resend; distinct tokens: %d per-blob (sr=b), %d container (sr=c)",
		duration, res.requests.Load(), res.failures.Load(), len(seen), len(odd), len(tokens["b"]), len(tokens["c"]))
	// A token lives 2 s before renewal: a run of d seconds needs about d/2
	// per key; ask for a third of that, so a slow machine still passes.
	minTokens := max(int(duration/(6*time.Second)), 2)
	assert.GreaterOrEqual(t, len(tokens["c"]), minTokens, "container tokens Azurite saw in %v: the tokens did not roll over", duration)
	assert.GreaterOrEqual(t, len(tokens["b"]), blobs*minTokens, "blob tokens Azurite saw in %v: the tokens did not roll over", duration)
	// The metrics tell the same story: every token Azurite saw was signed
	// once, as a miss or a renewal, and the rest of the requests hit.
	metrics := scrapeMetrics(t)
	media := func(name string) float64 {
		t.Helper()
		v, ok := metricValue(metrics, name, `account="devstoreaccount1",container="media"`)
		assert.True(t, ok, "%s for media not found", name)
		return v
	}
	signed := media("caddy_azure_blob_signatures_total")
	renewed := media("caddy_azure_blob_token_renewals_total")
	hits := media("caddy_azure_blob_token_cache_hits_total")
	figure(t, "metrics: %v signatures (%v renewals), %v cache hits", signed, renewed, hits)
	assert.GreaterOrEqual(t, int(signed), len(tokens["b"])+len(tokens["c"]), "metrics: signatures, for %d distinct tokens", len(tokens["b"])+len(tokens["c"]))
	assert.Positive(t, renewed, "metrics: renewals")
	assert.GreaterOrEqual(t, hits, float64(res.requests.Load())/2, "metrics: cache hits, for %d requests", res.requests.Load())
}

// TestKeyRotationReloadUnderLoad rotates the account key the way an
// operator does, under load: Azurite holds key1 and key2, Caddy signs with
// key1 and is reloaded to key2 halfway through. No request may fail, and
// every request a client starts once the reload has returned must reach
// Azurite signed with key2 (requests in flight on the old config finish
// with key1, within the grace period). Then key1 is regenerated: a config
// still signing with it answers 502 and the log says Azure refused a
// freshly signed token.
func TestKeyRotationReloadUnderLoad(t *testing.T) {
	key1, key2, key3 := testKey(1), testKey(2), testKey(3)
	addSecret("key1", key1)
	addSecret("key2", key2)
	addSecret("key3", key3)
	az := azurite.Start(t, azurite.Accounts(azurite.Account{Name: "rotacct", Keys: []string{key1, key2}}))
	az.CreateContainer(t, "media", false)
	const blobs = 8
	content := make([][]byte, blobs)
	for i := range content {
		content[i] = bytes.Repeat([]byte{byte('A' + i)}, 4<<10)
		// Clients ask for before-* until the reload returns, after-* since.
		az.Upload(t, "media", fmt.Sprintf("before-%d.jpg", i), content[i], "image/jpeg")
		az.Upload(t, "media", fmt.Sprintf("after-%d.jpg", i), content[i], "image/jpeg")
	}
	rec := azuriteBehindStub(t, fmt.Sprintf("http://127.0.0.1:%d", az.Port))
	t.Setenv("AZ_KEY1", key1)
	t.Setenv("AZ_KEY2", key2)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	config := func(keyVar string) string {
		return caddyGlobalsWith(testLog(logFile, "\tgrace_period 10s\n")) + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		endpoint %[1]s/rotacct
		container media
		account_key {env.%[2]s}
	}
}`, rec.URL, keyVar)
	}
	tester := startCaddy(t, config("AZ_KEY1"))

	duration := loadDuration(t)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var next, reloadedAt atomic.Int64
	reloadErr := make(chan error, 1)
	go func() {
		select {
		case <-time.After(duration / 2):
		case <-ctx.Done():
			reloadErr <- ctx.Err()
			return
		}
		err := loadConfig(config("AZ_KEY2"))
		reloadedAt.Store(next.Load() + 1) // requests numbered from here start after the reload
		reloadErr <- err
	}()
	res := runLoad(ctx, 8, &next, func(i int64) string {
		if at := reloadedAt.Load(); at > 0 && i >= at {
			return fmt.Sprintf(testSite+"/after-%d.jpg", i%blobs)
		}
		return fmt.Sprintf(testSite+"/before-%d.jpg", i%blobs)
	}, func(i int64) []byte { return content[i%blobs] })
	require.NoError(t, <-reloadErr, "reload to key2 under load")

	k1, err := sas.NewSharedKey("rotacct", key1)
	require.NoError(t, err)
	k2, err := sas.NewSharedKey("rotacct", key2)
	require.NoError(t, err)
	signed := map[string]map[string]int{"before": {}, "after": {}}
	for _, r := range rec.Requests() {
		blob := strings.TrimPrefix(r.Path, "/rotacct/media/")
		phase, _, _ := strings.Cut(blob, "-")
		by := "neither key"
		if tok, err := sas.Parse(r.RawQuery); err == nil {
			switch {
			case tok.VerifyService(k1, "media", blob, "") == nil:
				by = "key1"
			case tok.VerifyService(k2, "media", blob, "") == nil:
				by = "key2"
			}
		}
		if signed[phase] != nil {
			signed[phase][by]++
		}
	}
	figure(t, "%v of load, reloaded from key1 to key2 after %v: %d requests, %d failed; Azurite got, for requests started before the reload returned: %v; after: %v",
		duration, duration/2, res.requests.Load(), res.failures.Load(), signed["before"], signed["after"])
	assert.Zero(t, res.failures.Load(), "of %d requests failed across the reload, first: %q", res.requests.Load(), res.firstFailures)
	// key1 tokens before the reload, and key2 tokens only after it.
	assert.Positive(t, signed["before"]["key1"], "requests started before the reload signed with key1")
	assert.Zero(t, signed["before"]["neither key"], "requests started before the reload signed with neither key")
	assert.Positive(t, signed["after"]["key2"], "requests started after the reload signed with key2")
	assert.Len(t, signed["after"], 1, "requests started after the reload signed otherwise than with key2: %v", signed["after"])

	// key1 is regenerated: Azurite now holds key2 and key3.
	az.Restart(t, azurite.Accounts(azurite.Account{Name: "rotacct", Keys: []string{key2, key3}}))
	resp, body := fetch(t, tester, http.MethodGet, "/after-1.jpg")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "key2 after key1 was regenerated")
	assert.True(t, bytes.Equal(body, content[1]), "key2 after key1 was regenerated: %d bytes, not the blob's", len(body))
	require.NoError(t, loadConfig(config("AZ_KEY1")))
	resp, _ = fetch(t, tester, http.MethodGet, "/after-1.jpg")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "signing with the regenerated key1")
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(logs), "Azure refused a freshly signed token: the account key is not one it accepts",
		"the refused key was not reported as such:\n%s", lastLogLines(logs, 5))
}
