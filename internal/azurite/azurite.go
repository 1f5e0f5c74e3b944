// Package azurite runs the Azurite blob emulator, the real Azure peer of this
// project's tests, and seeds it through the Azure SDK for Go.
//
// Start finds an azurite-blob executable, in this order:
//
//  1. the environment variable AZURITE_BLOB (a path, or a name looked up on
//     PATH). When it is set, nothing else is tried: pointing it at a path
//     that does not exist means "Azurite is not installed";
//  2. testdata/node_modules/.bin/azurite-blob under the module root (the
//     first directory above the working directory that holds go.mod), as
//     installed from the pinned testdata/package-lock.json by
//     `npm ci --prefix testdata`;
//  3. azurite-blob on PATH.
//
// When none is found the test is skipped with the reason, except when the
// environment variable CI is set: then it fails, so CI never passes by
// skipping the Azure-facing tests.
//
// Azurite runs on 127.0.0.1 on a free port, with a fresh workspace per
// server, its API version check on (the seeding client rewrites the SDK's
// x-ms-version to sas.DefaultVersion, which Azurite 3.37 accepts) and its
// access log and debug log captured: when a test fails, their last lines are
// written to the test log. The server is stopped when the test ends.
//
// The package is internal to this module: the tests of the sas package
// and of the Caddy module import it. It is for tests only.
package azurite

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/needs"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Environment variables the package reads.
const (
	// EnvBinary names the azurite-blob executable to run. When set, it is
	// the only place looked at.
	EnvBinary = "AZURITE_BLOB"

	// envAccounts is Azurite's own variable for custom accounts. It is never
	// inherited from the caller's environment: only the Accounts option sets
	// it, so a developer's shell cannot change which accounts tests see.
	envAccounts = "AZURITE_ACCOUNTS"
)

// InstallHint says how to get Azurite; it ends every "not found" message.
const InstallHint = "install the pinned Azurite with `npm ci --prefix testdata` in the module root (needs Node.js), " +
	"or set " + EnvBinary + " to an azurite-blob executable"

// Host is the address Azurite listens on.
const Host = "127.0.0.1"

// How long to wait for Azurite to answer, and to stop gracefully.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Account is a storage account of a server: a name and its keys (base64).
type Account struct {
	Name string
	Keys []string // one or two keys; a request signed with any of them is accepted
}

// Option configures Start.
type Option func(*config)

type config struct {
	loose    bool
	oauth    bool
	accounts []Account
	args     []string
	port     int
}

// Loose starts Azurite with --loose, which ignores headers and parameters it
// does not support (an encryption scope, ses, needs it).
func Loose() Option { return func(c *config) { c.loose = true } }

// Accounts replaces the development account with these (AZURITE_ACCOUNTS).
// The server's Account and Key are the first account's name and first key.
// With Restart, this is how a test rotates keys.
func Accounts(accounts ...Account) Option {
	return func(c *config) { c.accounts = append([]Account(nil), accounts...) }
}

// Port asks for a fixed port, e.g. 10000, Azurite's default, which
// UseDevelopmentStorage=true connection strings point at. Start fails when
// it is taken.
func Port(port int) Option { return func(c *config) { c.port = port } }

// Args appends raw command-line arguments for azurite-blob.
func Args(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a running Azurite blob service.
type Server struct {
	// Endpoint is the path-style blob endpoint of Account, with no trailing
	// slash: http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// Account is the storage account name (devstoreaccount1 by default).
	Account string
	// Key is the account's (first) key, base64.
	Key string
	// Port is the TCP port on Host; it is kept across Restart.
	Port int
	// CertFile is the PEM certificate an OAuth server serves HTTPS with, for
	// clients to trust (Caddy: tls_trust_pool file <CertFile>).
	CertFile string
	// KeyFile is CertFile's private key, for a test server that must be
	// trusted the same way (a stand-in for Entra ID, say).
	KeyFile string

	bin      string
	cfg      config
	scheme   string         // https with OAuth
	tlsArgs  []string       // --cert and --key with OAuth
	pool     *x509.CertPool // trusts the OAuth server's certificate
	location string         // Azurite's workspace, kept across Restart
	debugLog string
	reported int // bytes of debugLog whose signatures were reported
	out      *tailBuffer
	proc     *process
	client   *azblob.Client
}

// process is one run of azurite-blob.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returns
	err    error         // cmd.Wait's result, set before exited closes
}

// Start runs Azurite for the test and stops it when the test ends. It skips
// the test (fails it under CI) when Azurite is not installed, and fails it
// when Azurite does not start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		unavailable(t, err)
	}
	s := &Server{bin: bin, location: t.TempDir(), out: &tailBuffer{max: 256 << 10}}
	s.debugLog = filepath.Join(t.TempDir(), "azurite-debug.log")
	for _, o := range opts {
		o(&s.cfg)
	}
	s.scheme = "http"
	if s.cfg.oauth {
		certFile, keyFile, pool := makeCertificate(t, t.TempDir())
		s.scheme, s.pool, s.CertFile, s.KeyFile = "https", pool, certFile, keyFile
		s.tlsArgs = []string{"--cert", certFile, "--key", keyFile, "--oauth", "basic"}
	}
	// Registered after the temporary directories, so it runs before they are
	// removed: the process is gone and its logs are still there.
	t.Cleanup(func() {
		if !t.Failed() {
			s.kill() // the data is about to be deleted: no need to wait
			return
		}
		s.Stop() // gracefully, so Azurite flushes its debug log
		s.logTail(t)
	})
	if err := s.start(s.cfg.port); err != nil {
		t.Fatalf("azurite: %v", err)
	}
	return s
}

// unavailable skips t, or fails it when CI is set.
func unavailable(t testing.TB, reason error) {
	t.Helper()
	needs.Missing(t, fmt.Sprintf("azurite: %v; %s", reason, InstallHint))
}

// findBinary looks for azurite-blob as the package documentation says.
func findBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if !strings.ContainsRune(p, filepath.Separator) {
			found, err := exec.LookPath(p)
			if err != nil {
				return "", fmt.Errorf("%s=%q is not on PATH", EnvBinary, p)
			}
			return found, nil
		}
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%q is not an executable file", EnvBinary, p)
		}
		return p, nil
	}
	var tried []string
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, "testdata", "node_modules", ".bin", "azurite-blob")
		if isExecutable(p) {
			return p, needsNode(p)
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, needsNode(p)
	}
	tried = append(tried, "PATH")
	return "", fmt.Errorf("azurite-blob not found (looked in %s)", strings.Join(tried, " and "))
}

// needsNode reports a missing Node.js for an npm-installed script, which
// would otherwise fail to start with a less helpful error.
func needsNode(bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if strings.HasPrefix(line, "#!") && strings.Contains(line, "node") {
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("%s needs node, which is not on PATH", bin)
		}
	}
	return nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// errPortTaken: Azurite exited because its port was in use.
var errPortTaken = errors.New("port already in use")

// start launches Azurite on port, or on a free port when port is 0 (trying
// a few in case another process takes the one picked), and waits until it
// answers.
func (s *Server) start(port int) error {
	s.applyAccounts()
	attempts := 3
	if port != 0 {
		attempts = 1
	}
	var err error
	for range attempts {
		p := port
		if p == 0 {
			if p, err = freePort(); err != nil {
				return err
			}
		}
		if err = s.launch(p); err == nil {
			s.Port = p
			s.Endpoint = s.scheme + "://" + net.JoinHostPort(Host, strconv.Itoa(p)) + "/" + s.Account
			s.client, err = newClient(s.Endpoint, s.Account, s.Key, s.HTTPClient())
			return err
		}
		if !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// applyAccounts sets Account and Key from the configured accounts.
func (s *Server) applyAccounts() {
	s.Account, s.Key = sas.DevAccountName, sas.DevAccountKey
	if len(s.cfg.accounts) > 0 && len(s.cfg.accounts[0].Keys) > 0 {
		s.Account, s.Key = s.cfg.accounts[0].Name, s.cfg.accounts[0].Keys[0]
	}
}

// freePort asks the kernel for a free port on Host. Another process may take
// it before Azurite binds it; start then tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args(port int) []string {
	args := []string{
		"--blobHost", Host,
		"--blobPort", strconv.Itoa(port),
		"--location", s.location,
		"--debug", s.debugLog,
		"--disableTelemetry",
	}
	if s.cfg.loose {
		args = append(args, "--loose")
	}
	args = append(args, s.tlsArgs...)
	return append(args, s.cfg.args...)
}

func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envAccounts+"=") {
			env = append(env, kv)
		}
	}
	if len(s.cfg.accounts) > 0 {
		parts := make([]string, len(s.cfg.accounts))
		for i, a := range s.cfg.accounts {
			parts[i] = strings.Join(append([]string{a.Name}, a.Keys...), ":")
		}
		env = append(env, envAccounts+"="+strings.Join(parts, ";"))
	}
	return env
}

// launch starts one process on port and waits until it answers, exits, or
// the start timeout passes.
func (s *Server) launch(port int) error {
	cmd := exec.Command(s.bin, s.args(port)...)
	cmd.Env = s.env()
	cmd.Dir = s.location
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.WaitDelay = 2 * time.Second // do not hang on a pipe held by a stray child
	setProcessGroup(cmd)
	mark := s.out.Len()
	fmt.Fprintf(s.out, "--- azurite-blob %s\n", strings.Join(cmd.Args[1:], " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.proc = p

	probe := s.scheme + "://" + net.JoinHostPort(Host, strconv.Itoa(port)) + "/" + s.Account + "?restype=service&comp=properties"
	hc := s.HTTPClient()
	hc.Timeout = time.Second
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			s.proc = nil
			out := s.out.Since(mark)
			if strings.Contains(out, "EADDRINUSE") {
				return fmt.Errorf("port %d: %w", port, errPortTaken)
			}
			return fmt.Errorf("azurite-blob exited during start-up (%v); its output:\n%s", p.err, out)
		default:
		}
		if isAzurite(hc, probe) {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("azurite-blob did not answer on port %d within %s; its output:\n%s", port, startTimeout, s.out.Since(mark))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isAzurite reports whether Azurite answers url (with any status): the
// Server header tells it apart from another process that took the port.
func isAzurite(hc *http.Client, url string) bool {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header["x-ms-version"] = []string{sas.DefaultVersion}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return strings.HasPrefix(resp.Header.Get("Server"), "Azurite-Blob/")
}

// Stop stops Azurite gracefully (SIGTERM to its process group, so it saves
// its metadata), then forcibly after 10 s. The workspace is kept for
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	defer s.reportSignatures()
	terminateGroup(p.cmd)
	select {
	case <-p.exited:
		return
	case <-time.After(stopTimeout):
	}
	killGroup(p.cmd)
	<-p.exited
}

// kill stops Azurite at once: its data is about to be deleted.
func (s *Server) kill() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	killGroup(p.cmd)
	<-p.exited
	s.reportSignatures()
}

// Restart stops Azurite gracefully and starts it again on the same port with
// the same workspace, so containers and blobs survive. Options are applied
// on top of those given to Start (Accounts rotates keys); Account, Key,
// Endpoint and the seeding client follow.
func (s *Server) Restart(t testing.TB, opts ...Option) {
	t.Helper()
	s.Stop()
	for _, o := range opts {
		o(&s.cfg)
	}
	// The port was just released; give the kernel a moment if it is slow.
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err = s.start(s.Port)
		if !errors.Is(err, errPortTaken) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("azurite: restart: %v", err)
	}
}

// Running reports whether the Azurite process is running.
func (s *Server) Running() bool {
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.exited:
		return false
	default:
		return true
	}
}

// Output returns the last n lines Azurite printed (access log included).
func (s *Server) Output(n int) string { return lastLines(s.out.String(), n) }

// logTail writes the last lines of Azurite's output and debug log to t.
func (s *Server) logTail(t testing.TB) {
	t.Logf("azurite-blob output, last lines:\n%s", s.Output(40))
	if b, err := os.ReadFile(s.debugLog); err == nil {
		if len(b) > 256<<10 {
			b = b[len(b)-256<<10:]
		}
		t.Logf("azurite debug log (%s), last lines:\n%s", s.debugLog, lastLines(string(b), 60))
	}
}

// lastLines returns the last n lines of text, each clipped to 600 bytes.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + " …"
		}
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use (the process's output is copied by os/exec's goroutines).
type tailBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int // bytes discarded from the front
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
		b.dropped += over
	}
	return len(p), nil
}

// Len returns how many bytes were ever written.
func (b *tailBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + b.buf.Len()
}

// Since returns what was written after mark (a Len result), as far as kept.
func (b *tailBuffer) Since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	skip := max(mark-b.dropped, 0)
	return string(b.buf.Bytes()[skip:])
}

func (b *tailBuffer) String() string { return b.Since(0) }
