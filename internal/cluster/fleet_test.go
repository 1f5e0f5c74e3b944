package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// rollingRotation moves the nodes from key1 to key2 one by one under load,
// then regenerates key1 at Azurite: no request fails.
func (d *deployment) rollingRotation(t *testing.T) {
	blobs := uploadLoadBlobs(t, d.az, "rotation", 300)
	l := startLoad(t, d.shield.URL, "rotation", blobs)
	for _, n := range d.nodes {
		time.Sleep(700 * time.Millisecond)
		n.SetKey(t, d.keys[1])
		n.Reload(t)
	}
	time.Sleep(700 * time.Millisecond)
	during := l.stop(t)
	assert.Zero(t, during.failed, "requests failed while the nodes moved to key2: %s", during.firstError)
	assert.Positive(t, during.misses, "no request reached a node")
	figures.Report(t, "nodes reloaded one by one from key1 to key2 under load: %d requests (%d misses signed by a node), %d failed",
		during.ok+during.failed, during.misses, during.failed)

	// key1 regenerated: Azurite keeps key2 and gets key3, as Azure does.
	d.az.Restart(t, azurite.Accounts(azurite.Account{Name: sas.DevAccountName, Keys: []string{d.keys[1], d.keys[2]}}))
	old, err := sas.NewSharedKey(sas.DevAccountName, d.keys[0])
	require.NoError(t, err)
	token, err := (&sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: sas.PermRead, Container: "photos",
		Blob: "rotation/0.txt", Expiry: time.Now().Add(time.Hour)}).Sign(old)
	require.NoError(t, err)
	resp, _ := azurite.Fetch(t, http.MethodGet, d.az.BlobURL("photos", "rotation/0.txt")+"?"+token.Encode(), nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "Azurite still takes key1 after it was regenerated")

	l = startLoad(t, d.shield.URL, "regenerated", blobs)
	time.Sleep(2 * time.Second)
	after := l.stop(t)
	assert.Zero(t, after.failed, "requests failed after key1 was regenerated: %s", after.firstError)
	assert.Positive(t, after.misses)
	figures.Report(t, "after key1 was regenerated: %d requests (%d misses), %d failed", after.ok+after.failed, after.misses, after.failed)
}

// nodeDies kills a node under load: the shield retries what met it and
// marks it sick, no request fails; restarted, it takes requests again.
func (d *deployment) nodeDies(t *testing.T) {
	blobs := uploadLoadBlobs(t, d.az, "death", 300)
	node2 := d.nodes[1]
	// Connections the dead node refused: each such fetch went to
	// vcl_backend_error, which retries it on the next node.
	refused := d.shield.Counter(t, "MAIN.backend_fail")
	l := startLoad(t, d.shield.URL, "death", blobs)
	time.Sleep(time.Second)
	node2.Kill()
	killed := time.Now()
	require.Eventually(t, func() bool { return !d.shield.Healthy("node2") },
		10*time.Second, 100*time.Millisecond, "Varnish did not mark the dead node sick")
	sick := time.Since(killed)
	// shield.vcl probes each second and marks a node sick at the second
	// failure (threshold 2 of a window of 3): within 2 s, and 2 s more for
	// a loaded machine.
	assert.Less(t, sick, 4*time.Second, "Varnish marked the dead node sick later than its probe allows")
	time.Sleep(time.Second)
	during := l.stop(t)
	assert.Zero(t, during.failed, "requests failed when a node died: %s", during.firstError)
	retried := d.shield.Counter(t, "MAIN.backend_fail") - refused
	assert.Positive(t, retried, "no fetch met the dead node before it was marked sick: the retry was not tried")
	figures.Report(t, "node2 killed under load: marked sick after %.1f s; %d requests (%d misses), %d failed; %d fetches met the dead node and were retried on another",
		sick.Seconds(), during.ok+during.failed, during.misses, during.failed, retried)

	node2.Start(t)
	require.Eventually(t, func() bool { return d.shield.Healthy("node2") },
		10*time.Second, 100*time.Millisecond, "Varnish did not take the node back")
	served := d.shield.BackendCounter(t, "node2", "req")
	l = startLoad(t, d.shield.URL, "back", blobs)
	time.Sleep(time.Second)
	back := l.stop(t)
	assert.Zero(t, back.failed, "requests failed once the node was back: %s", back.firstError)
	assert.Greater(t, d.shield.BackendCounter(t, "node2", "req"), served, "the node that came back takes no traffic")
}

// uploadLoadBlobs uploads n small blobs under dir and returns their bytes
// by name.
func uploadLoadBlobs(t *testing.T, az *azurite.Server, dir string, n int) map[string][]byte {
	blobs := make(map[string][]byte, n)
	for i := range n {
		name := fmt.Sprintf("%s/%d.txt", dir, i)
		blobs[name] = fmt.Appendf(nil, "blob %s, %d", name, i)
		az.Upload(t, "photos", name, blobs[name], "text/plain")
	}
	return blobs
}

// load is clients reading through the shield until stopped: even requests
// read the uploaded blobs in turn (each a miss the first time), odd ones
// a name that exists nowhere (always a miss a node signs for: 404).
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64
	misses atomic.Int64
	first  atomic.Pointer[string]
}

// loadResult is what a load saw.
type loadResult struct {
	ok, failed, misses int64
	firstError         string
}

func startLoad(t *testing.T, shield, tag string, blobs map[string][]byte) *load {
	names := make([]string, 0, len(blobs))
	for name := range blobs {
		names = append(names, name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second}
	var next atomic.Int64
	for range 4 {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				path, want, status := fmt.Sprintf("/images/missing/%s-%d.txt", tag, i), []byte(nil), http.StatusNotFound
				if i%2 == 0 {
					name := names[int(i/2)%len(names)]
					path, want, status = "/images/"+name, blobs[name], http.StatusOK
				}
				l.record(client, shield+path, status, want)
			}
		})
	}
	return l
}

// record makes one request and counts its outcome.
func (l *load) record(client *http.Client, url string, status int, want []byte) {
	fail := func(format string, args ...any) {
		if l.failed.Add(1) == 1 {
			msg := fmt.Sprintf(format, args...)
			l.first.Store(&msg)
		}
	}
	resp, err := client.Get(url)
	if err != nil {
		fail("%s: %v", url, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		fail("%s: %v", url, err)
	case resp.StatusCode != status:
		fail("%s: %d, not %d", url, resp.StatusCode, status)
	case status == http.StatusOK && !bytes.Equal(body, want):
		fail("%s: %d bytes that are not the blob's", url, len(body))
	default:
		l.ok.Add(1)
		if resp.Header.Get("X-Cache") == "miss" {
			l.misses.Add(1)
		}
	}
}

func (l *load) stop(t *testing.T) loadResult {
	l.cancel()
	l.wg.Wait()
	r := loadResult{ok: l.ok.Load(), failed: l.failed.Load(), misses: l.misses.Load()}
	if msg := l.first.Load(); msg != nil {
		r.firstError = *msg
	}
	require.Positive(t, r.ok+r.failed, "the load made no request")
	return r
}
