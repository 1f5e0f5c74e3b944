package cluster

import (
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/needs"
)

// VCLPorts are the node ports shield.vcl names, in order; a shield in
// front of other ports gets a copy with them replaced.
var VCLPorts = []int{8101, 8102, 8103}

// Shield is a running varnishd with shield.vcl in front of nodes.
type Shield struct {
	// URL is where clients reach the shield: http://127.0.0.1:PORT.
	URL string

	workdir string // varnishd -n: its shared log and counters
	cmd     *exec.Cmd
	out     *syncBuffer
}

// StartShield runs Varnish in front of nodes (as many as VCLPorts), with
// the varnishd parameters params (vsl_mask=…, as -p takes them), and waits
// until it answers. It is stopped when the test ends.
func StartShield(t testing.TB, nodes []*Node, params ...string) *Shield {
	t.Helper()
	varnishd, err := exec.LookPath("varnishd")
	if err != nil {
		varnishd, err = exec.LookPath("/usr/sbin/varnishd") // Debian's, off a user's PATH
	}
	if err == nil {
		_, err = exec.LookPath("varnishlog")
	}
	if err != nil {
		needs.Missing(t, fmt.Sprintf("varnish is not installed (%v): apt-get install varnish, or ./xcaddy.sh test", err))
	}
	if len(nodes) != len(VCLPorts) {
		t.Fatalf("shield.vcl names %d nodes, not %d", len(VCLPorts), len(nodes))
	}
	raw, err := os.ReadFile(filepath.Join(Dir(t), "shield.vcl"))
	if err != nil {
		t.Fatal(err)
	}
	vcl := string(raw)
	for i, n := range nodes {
		from, to := fmt.Sprintf(".port = %q;", strconv.Itoa(VCLPorts[i])), fmt.Sprintf(".port = %q;", strconv.Itoa(n.Port))
		if !strings.Contains(vcl, from) {
			t.Fatalf("shield.vcl has no backend with %s", from)
		}
		vcl = strings.Replace(vcl, from, to, 1)
	}
	dir := t.TempDir()
	vclFile := filepath.Join(dir, "shield.vcl")
	if err := os.WriteFile(vclFile, []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &Shield{URL: fmt.Sprintf("http://127.0.0.1:%d", port), workdir: filepath.Join(dir, "varnish"), out: &syncBuffer{}}
	// -j none: run as the user who started it (no jail), root or not.
	args := []string{"-F", "-j", "none", "-n", s.workdir, "-a", fmt.Sprintf("127.0.0.1:%d", port),
		"-T", "none", "-f", vclFile, "-s", "malloc,256m", "-s", "Transient=malloc,256m"}
	for _, p := range params {
		args = append(args, "-p", p)
	}
	s.cmd = exec.Command(varnishd, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// A group of its own, so the cache process goes with the manager; and
	// killed with the test process should a timeout end it first.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	if !answersOK(s.URL + "/healthz") {
		t.Fatalf("varnishd did not answer within %s:\n%s", startTimeout, s.out.String())
	}
	return s
}

func (s *Shield) stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

// Log is Varnish's shared-memory log as varnishlog -d prints it: every
// request, backend request and object header it still holds, or only the
// records of the tags given (Backend_health …).
func (s *Shield) Log(t testing.TB, tags ...string) string {
	t.Helper()
	args := []string{"-d", "-g", "raw", "-n", s.workdir}
	for _, tag := range tags {
		args = append(args, "-i", tag)
	}
	out, err := exec.Command("varnishlog", args...).Output()
	if err != nil {
		t.Fatalf("varnishlog: %v", err)
	}
	return string(out)
}

// Transactions are the requests Varnish's shared-memory log still holds
// that match the varnishlog query (ReqURL ~ "^/dl/" …), each with its
// backend request, as varnishlog -d -g request prints them.
func (s *Shield) Transactions(t testing.TB, query string) string {
	t.Helper()
	out, err := exec.Command("varnishlog", "-d", "-g", "request", "-q", query, "-n", s.workdir).Output()
	if err != nil {
		t.Fatalf("varnishlog: %v", err)
	}
	return string(out)
}

// Counters are Varnish's counters whose names match the varnishstat
// pattern glob (e.g. "VBE.*.req"), by name.
func (s *Shield) Counters(glob string) (map[string]uint64, error) {
	out, err := exec.Command("varnishstat", "-1", "-n", s.workdir, "-f", glob).Output()
	if err != nil {
		return nil, fmt.Errorf("varnishstat: %w", err)
	}
	counters := map[string]uint64{}
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil { // happy is a 64-bit map
				counters[f[0]] = v
			}
		}
	}
	return counters, nil
}

// Counter is the one counter named name (MAIN.backend_retry, say).
func (s *Shield) Counter(t testing.TB, name string) uint64 {
	t.Helper()
	counters, err := s.Counters(name)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := counters[name]
	if !ok {
		t.Fatalf("varnishstat has no counter %s", name)
	}
	return v
}

// Healthy reports whether Varnish takes the node named name as healthy:
// at least threshold (2) of the last window (3) probes of shield.vcl
// passed. VBE.*.happy holds a bit per probe, the newest lowest. An error
// reading the counters is "not known healthy".
func (s *Shield) Healthy(name string) bool {
	happy, err := s.backendCounter(name, "happy")
	return err == nil && bits.OnesCount64(happy&0b111) >= 2
}

// BackendCounter is a per-node counter (req, fail …) of the node named
// name, whatever VCL is loaded.
func (s *Shield) BackendCounter(t testing.TB, name, counter string) uint64 {
	t.Helper()
	v, err := s.backendCounter(name, counter)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *Shield) backendCounter(name, counter string) (uint64, error) {
	counters, err := s.Counters("VBE.*." + name + "." + counter)
	if err != nil {
		return 0, err
	}
	for key, v := range counters {
		if strings.HasSuffix(key, "."+name+"."+counter) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("varnishstat has no VBE counter %s of %s", counter, name)
}
