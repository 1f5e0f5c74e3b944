package caddymodule_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-azure-sas/caddy-azure-sas/caddymodule"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// metricsReloads is how many times TestMetricsScrapedDuringReloads
// reloads: each is a config whose transports register with a fresh
// metrics registry while /metrics is being read.
const metricsReloads = 12

// TestMetricsScrapedDuringReloads scrapes /metrics without pause while
// Caddy reloads a config with identity transports (which set up their
// keyring while they are provisioned): every scrape that reaches the admin
// endpoint answers 200 in full, the blob is served after each reload, and the identity's metrics are there at the
// end. Caddy's admin endpoint serves the new config's registry before the
// config has finished loading; that a transport joins the collector only
// once provisioned is shown deterministically, under -race, by
// TestTransportJoinsTheMetricsOnlyOnceProvisioned (here Caddy's own log
// writes order the goroutines, so the detector seldom sees it).
func TestMetricsScrapedDuringReloads(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := bytes.Repeat([]byte("RELOAD"), 100)
	az.Upload(t, "photos", "cat.jpg", data, "image/jpeg")
	newIdentityStandIn(t, identityTenant)
	config := func(ttl int) string {
		return caddyGlobals + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		endpoint %[1]s
		container photos
		identity managed
		ttl %[3]dm
		tls_trust_pool file %[2]s
		fallback {
			container archive
		}
	}
}`, az.Endpoint, az.CertFile, ttl)
	}
	tester := startCaddy(t, config(10))
	resp, body := fetch(t, tester, http.MethodGet, "/cat.jpg")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Equal(data, body), "the blob before the reloads")

	var scrapes, unanswered, failed atomic.Int64
	var lastError atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(adminURL + "/metrics")
				switch {
				case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
					// Caddy swaps its admin endpoint during a reload: a
					// new connection is refused, a kept-alive one closed
					// before it answers. Neither is an answer.
					unanswered.Add(1)
					continue
				case err != nil:
					failed.Add(1)
					lastError.Store(err.Error())
					continue
				}
				metrics, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				suiteSaw("admin GET /metrics during a reload", metrics)
				scrapes.Add(1)
			}
		})
	}
	for i := range metricsReloads {
		require.NoError(t, loadConfig(config(11+i)), "reload %d", i+1)
		resp, body := fetch(t, tester, http.MethodGet, "/cat.jpg")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "after reload %d", i+1)
		assert.True(t, bytes.Equal(data, body), "after reload %d: %d bytes", i+1, len(body))
	}
	close(stop)
	wg.Wait()
	require.Positive(t, scrapes.Load(), "no scrape succeeded")
	assert.Zero(t, failed.Load(), "scrapes failed otherwise, answered with an error or cut short; the last error: %v", lastError.Load())
	v, ok := metricValue(scrapeMetrics(t), "caddy_azure_blob_delegation_key_failures_total", `account="devstoreaccount1",container="photos"`)
	assert.True(t, ok, "the identity's metrics after the reloads")
	assert.Zero(t, v, "delegation key failures")
	figure(t, "%d reloads of identity transports while /metrics answered 200, whole, %d times; %d scrapes refused or closed unanswered while the admin endpoint was swapped, none failed otherwise",
		metricsReloads, scrapes.Load(), unanswered.Load())
}

// TestTransportJoinsTheMetricsOnlyOnceProvisioned: Caddy serves a new
// config's metrics registry before the config has finished loading, so
// Prometheus may collect while a transport is still being provisioned. The
// collector reads the transport (its identity's keyring among other
// things), so the transport must join it only once everything it reads is
// in place.
//
// A collector runs without pause on another goroutine, doing no I/O,
// while identity transports are provisioned against Azurite, and goes on
// after each. Under -race (./xcaddy.sh test), a field that Provision writes
// after the transport joined the collector is a data race with the
// collector's read of it, whatever the timing: nothing else orders the two
// goroutines.
func TestTransportJoinsTheMetricsOnlyOnceProvisioned(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	newIdentityStandIn(t, identityTenant)
	// Eight transports, each a chance for the detector to see a field
	// written after the transport joined the collector; the first gets the
	// user delegation key, the others share it.
	transports := make([]*caddymodule.Transport, 8)
	for i := range transports {
		transports[i] = new(caddymodule.Transport)
		require.NoError(t, transports[i].UnmarshalCaddyfile(caddyfile.NewTestDispenser(fmt.Sprintf(`azure_blob {
			endpoint %s
			container photos
			identity managed
			tls_trust_pool file %s
		}`, az.Endpoint, az.CertFile))))
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	registry := ctx.GetMetricsRegistry()

	var gathered atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := registry.Gather()
			assert.NoError(t, err)
			gathered.Add(1)
		}
	}()
	for _, tr := range transports {
		require.NoError(t, tr.Provision(ctx))
		t.Cleanup(func() { assert.NoError(t, tr.Cleanup()) })
		// Two more collections once Provision has returned: at least one
		// reads the whole transport.
		for after := gathered.Load() + 2; gathered.Load() < after; {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	<-done

	families, err := registry.Gather()
	require.NoError(t, err)
	found := false
	for _, f := range families {
		if f.GetName() == "caddy_azure_blob_delegation_key_failures_total" {
			found = true
			require.Len(t, f.GetMetric(), 1, "one series: every transport has the same account and container")
			assert.Zero(t, f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	assert.True(t, found, "the identity transports' metrics are collected")
}
