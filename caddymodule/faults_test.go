package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// faultMode is what a faultRelay does to the upstream's answers.
type faultMode struct {
	delay     time.Duration // before the first byte of the answer
	cutAfter  int64         // close both sides after this many answer bytes; 0: never
	stallFrom int64         // stop forwarding, but keep the connection, after this many; 0: never
}

// faultRelay is a TCP relay in front of Azurite that delays, cuts or
// stalls Azurite's answers, the faults a network and an origin produce. A
// connection keeps the mode it was accepted in, so Caddy reaches it with
// keepalive off: each request gets the mode set before it.
type faultRelay struct {
	ln     net.Listener
	target string
	mode   atomic.Pointer[faultMode]
	done   chan struct{}
	wg     sync.WaitGroup
}

func newFaultRelay(t *testing.T, target string) *faultRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &faultRelay{ln: ln, target: target, done: make(chan struct{})}
	r.mode.Store(new(faultMode))
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(func() {
		close(r.done)
		ln.Close()
		r.wg.Wait()
	})
	return r
}

func (r *faultRelay) addr() string { return r.ln.Addr().String() }

func (r *faultRelay) set(m faultMode) { r.mode.Store(&m) }

func (r *faultRelay) serve() {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.relay(client, *r.mode.Load())
		}()
	}
}

func (r *faultRelay) relay(client net.Conn, m faultMode) {
	defer client.Close()
	upstream, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer upstream.Close()
	go func() { _, _ = io.Copy(upstream, client) }()
	select {
	case <-time.After(m.delay):
	case <-r.done:
		return
	}
	limit := int64(1 << 62)
	if m.cutAfter > 0 {
		limit = m.cutAfter
	}
	if m.stallFrom > 0 {
		limit = m.stallFrom
	}
	if _, err := io.CopyN(client, upstream, limit); err != nil || m.stallFrom == 0 {
		return
	}
	<-r.done // stalled: hold the connection until the test ends or the reader gives up
}

// getWithError is a GET through Caddy that reports a body cut short as an
// error instead of failing the test.
func getWithError(t *testing.T, tester *caddytest.Tester, path string) (status int, body []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, testSite+path, nil)
	require.NoError(t, err, "GET %s", path)
	resp, err := tester.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	suiteSawResponse(resp, body)
	return resp.StatusCode, body, err
}

// TestFaultsAgainstAzurite stops Azurite under a running Caddy, and puts a
// relay in front of it that delays, stalls and cuts Azurite's answers.
func TestFaultsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "media", false)
	video := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	az.Upload(t, "media", "clip.mp4", video, "video/mp4")
	t.Setenv("AZ_TEST_KEY", az.Key)
	relay := newFaultRelay(t, fmt.Sprintf("127.0.0.1:%d", az.Port))
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	handle_path /direct/* {
		azure_blob {
			endpoint %[1]s
			container media
			account_key {env.AZ_TEST_KEY}
		}
	}
	handle_path /relay/* {
		azure_blob {
			endpoint http://%[2]s/devstoreaccount1
			container media
			account_key {env.AZ_TEST_KEY}
			response_header_timeout 1s
			read_timeout 2s
			keepalive off
		}
	}
}`, az.Endpoint, relay.addr()))

	expectWhole := func(path string) {
		t.Helper()
		status, body, err := getWithError(t, tester, path)
		require.NoError(t, err, "GET %s", path)
		require.Equal(t, http.StatusOK, status, "GET %s", path)
		require.Len(t, body, len(video), "GET %s: want the whole blob", path)
		require.True(t, bytes.Equal(body, video), "GET %s: not the blob's bytes", path)
	}
	expectWhole("/direct/clip.mp4")
	expectWhole("/relay/clip.mp4")

	// Azurite goes away: 502 at once, and the log says why.
	az.Stop()
	start := time.Now()
	status, _, err := getWithError(t, tester, "/direct/clip.mp4")
	assert.NoError(t, err, "Azurite stopped")
	assert.Equal(t, http.StatusBadGateway, status, "Azurite stopped")
	took := time.Since(start)
	assert.Less(t, took, 3*time.Second, "Azurite stopped: the 502 took as long as dialing may; a refused connection should answer at once")
	figure(t, "Azurite stopped: 502 after %v", took.Round(time.Millisecond))
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(logs), "connection refused", "no log line names the refused connection:\n%s", lastLogLines(logs, 5))
	// It comes back: so does service, with nothing done to Caddy.
	az.Restart(t)
	expectWhole("/direct/clip.mp4")

	// Headers later than response_header_timeout: 504.
	relay.set(faultMode{delay: 3 * time.Second})
	status, _, err = getWithError(t, tester, "/relay/clip.mp4")
	assert.NoError(t, err, "slow headers")
	assert.Equal(t, http.StatusGatewayTimeout, status, "slow headers")
	// A body that stops mid-way, with the connection open or cut: the
	// client must see a broken response, never a complete-looking one.
	for _, m := range []faultMode{{stallFrom: 256 << 10}, {cutAfter: 256 << 10}} {
		relay.set(m)
		status, body, err := getWithError(t, tester, "/relay/clip.mp4")
		// The headers went out before the cut: the body must end in an
		// error, as a body shorter than its Content-Length.
		assert.Equal(t, http.StatusOK, status, "%+v", m)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "%+v: want a cut-off body and a read error", m)
		assert.Less(t, len(body), len(video), "%+v: want a cut-off body", m)
		if len(body) > 0 && len(body) <= len(video) {
			assert.True(t, bytes.Equal(body, video[:len(body)]), "%+v: the bytes before the cut are not the blob's", m)
		}
	}
	relay.set(faultMode{})
	expectWhole("/relay/clip.mp4")

	logs, err = os.ReadFile(logFile)
	require.NoError(t, err)
	for _, want := range []string{"timeout awaiting response headers", "i/o timeout"} {
		assert.Contains(t, string(logs), want, "no log line says %q:\n%s", want, lastLogLines(logs, 8))
	}
}
