// Package cluster runs, for tests, the deployment that "Deploying at scale"
// in docs/deploying.md describes: Caddy nodes that all run
// testdata/cluster/Caddyfile, and Varnish in front of them with
// testdata/cluster/shield.vcl, on 127.0.0.1. The storage behind the nodes
// (Azurite) is the test's. ./xcaddy.sh cluster starts the same files by hand.
//
// Varnish comes from Debian's varnish package (./xcaddy.sh test installs
// it); when varnishd is missing the tests skip, or fail when CI is set.
package cluster

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/proc"
)

// startTimeout bounds how long a node or Varnish may take to answer.
const startTimeout = 30 * time.Second

// CaddyBinary returns a caddy with the plugin: the one CADDY_BIN names, or
// one built (as ./xcaddy.sh builds it) into a temporary directory.
func CaddyBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CADDY_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "caddy")
	build := exec.Command("go", "build", "-trimpath", "-tags", "nobadger,nomysql,nopgx", "-o", bin, "./caddymodule/cmd/caddy")
	build.Dir = moduleRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building caddy: %v\n%s", err, out)
	}
	return bin
}

// moduleRoot is the directory of this project's go.mod.
func moduleRoot(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("finding go.mod: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Dir is testdata/cluster under the module root: the nodes' Caddyfile (with
// the routes.caddy it imports) and shield.vcl.
func Dir(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "testdata", "cluster")
}

// Node is one Caddy process running the Caddyfile.
type Node struct {
	Name            string
	Port, AdminPort int

	bin, dir string
	env      []string
	cmd      *exec.Cmd
	out      *syncBuffer
}

// StartNode runs a node named name that signs with key, reading blobs from
// endpoint; extra is the environment's other settings (NODE_ROUTES …).
// The node is killed when the test ends.
func StartNode(t testing.TB, bin, name, endpoint, key string, extra ...string) *Node {
	t.Helper()
	n := &Node{Name: name, Port: freePort(t), AdminPort: freePort(t), bin: bin, dir: t.TempDir()}
	n.SetKey(t, key)
	n.env = append(os.Environ(),
		"NODE_PORT="+strconv.Itoa(n.Port), "NODE_ADMIN_PORT="+strconv.Itoa(n.AdminPort), "NODE_DATA="+n.dir,
		"AZURE_BLOB_ENDPOINT="+endpoint, "XDG_DATA_HOME="+n.dir, "XDG_CONFIG_HOME="+n.dir, "HOME="+n.dir)
	n.env = append(n.env, extra...)
	t.Cleanup(n.Kill)
	n.Start(t)
	return n
}

// Start runs the node's process (again, after Kill) on its ports, and
// waits until it answers /healthz.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	n.out = &syncBuffer{}
	n.cmd = exec.Command(n.bin, "run", "--config", filepath.Join(Dir(t), "Caddyfile"), "--adapter", "caddyfile")
	n.cmd.Env, n.cmd.Dir = n.env, n.dir
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	// Killed with the test process too, should a timeout end it before
	// its cleanups run.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", n.Port)
	if !answersOK(url) {
		n.Kill()
		t.Fatalf("%s did not answer %s within %s:\n%s", n.Name, url, startTimeout, n.out.String())
	}
}

// answersOK polls url until it answers 200, for at most startTimeout.
func answersOK(url string) bool {
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
	return false
}

// Kill stops the node at once (SIGKILL), as a crash would.
func (n *Node) Kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// SetKey writes the account key the node signs with once it (re)loads.
func (n *Node) SetKey(t testing.TB, key string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.dir, "account_key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Reload has the node load the Caddyfile again (caddy reload --force, as an
// operator would), picking up a new key; requests in flight finish.
func (n *Node) Reload(t testing.TB) {
	t.Helper()
	reload := exec.Command(n.bin, "reload", "--config", filepath.Join(Dir(t), "Caddyfile"), "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", n.AdminPort), "--force")
	reload.Env, reload.Dir = n.env, n.dir
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("reloading %s: %v\n%s", n.Name, err, out)
	}
}

// PeakRSS is the node's peak resident set size in bytes, since it started
// or since ResetPeakRSS.
func (n *Node) PeakRSS(t testing.TB) int64 {
	t.Helper()
	rss, err := proc.PeakRSS(n.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	return rss
}

// ResetPeakRSS sets the node's peak RSS back to its current RSS, so that
// PeakRSS then measures what came after.
func (n *Node) ResetPeakRSS(t testing.TB) {
	t.Helper()
	if err := proc.ResetPeakRSS(n.cmd.Process.Pid); err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
}

// Output is what the node printed (its warnings and errors).
func (n *Node) Output() string { return n.out.String() }

// freePort returns a TCP port free on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// syncBuffer is a bytes.Buffer a process and a test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
