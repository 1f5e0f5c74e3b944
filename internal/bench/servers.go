package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/proc"
)

// server is a process the load is driven at: Caddy, nginx or Varnish
// (with the Caddy behind it).
type server struct {
	port int
	pid  int // the process whose CPU time and RSS (with its children's) count
	stop func()
}

// pinning runs the measured servers on one core and leaves the other to
// the bench process (upstream and load generator), so a server's CPU time
// per request does not depend on what the rest of the machine does.
type pinning struct {
	serverCPU string // taskset -c list for the servers; "" runs them unpinned
	admin     string // Caddy's admin address, for profiling; "" turns it off
}

// command is name with args, run under taskset when pinning.
func (p pinning) command(name string, args ...string) *exec.Cmd {
	if p.serverCPU == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", p.serverCPU, name}, args...)...)
}

// startCaddy runs caddy with site on a free port and waits until it answers.
func (p pinning) startCaddy(caddyBin, site string) server {
	return p.startCaddyWith(caddyBin, "", site)
}

// startCaddyWith is startCaddy with global options added.
func (p pinning) startCaddyWith(caddyBin, globals, site string) server {
	port := freePort()
	dir := tempDir()
	config := filepath.Join(dir, "Caddyfile")
	admin := "off"
	if p.admin != "" {
		admin = p.admin
	}
	check(os.WriteFile(config, fmt.Appendf(nil, "{\n\tadmin %s\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n\tlog {\n\t\tlevel ERROR\n\t}\n%s}\nhttp://127.0.0.1:%d {\n\tbind 127.0.0.1\n\t%s\n}\n", admin, dir, globals, port, site), 0o600))
	cmd := p.command(caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return runServer("caddy", cmd, port, dir)
}

// startNginx runs Debian's nginx as one process (no master) proxying
// /<size>/<n>.bin to the upstream's photos container with token appended:
// what a user without the plugin sets up by hand, with one fixed SAS.
func (p pinning) startNginx(upstream, token string) server {
	port := freePort()
	dir := tempDir()
	config := filepath.Join(dir, "nginx.conf")
	check(os.WriteFile(config, fmt.Appendf(nil, `daemon off;
master_process off;
worker_processes 1;
error_log %[1]s/error.log error;
pid %[1]s/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream azure {
		server %[2]s;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:%[3]d;
		location / {
			proxy_pass "http://azure/devstoreaccount1/photos$uri?%[4]s";
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $proxy_host;
			proxy_max_temp_file_size 0;
		}
	}
}
`, dir, upstream, port, token), 0o600))
	return runServer("nginx", p.command(nginxBinary(), "-c", config, "-p", dir), port, dir)
}

// startVarnish runs Varnish caching what origin (a Caddy) serves, and
// stops both together. Its objects are kept for Varnish's default TTL,
// longer than a round.
func (p pinning) startVarnish(origin server) server {
	port := freePort()
	dir := tempDir()
	vcl := filepath.Join(dir, "bench.vcl")
	check(os.WriteFile(vcl, fmt.Appendf(nil, "vcl 4.1;\nbackend caddy { .host = \"127.0.0.1\"; .port = \"%d\"; }\n", origin.port), 0o644))
	cmd := p.command(varnishdBinary(), "-F", "-j", "none", "-n", filepath.Join(dir, "varnish"), "-a", fmt.Sprintf("127.0.0.1:%d", port),
		"-T", "none", "-f", vcl, "-s", "malloc,256m")
	s := runServer("varnishd", cmd, port, dir)
	stopVarnish := s.stop
	s.stop = func() { stopVarnish(); origin.stop() }
	return s
}

// live are the stop functions of the servers running, for exits on an
// error or a signal: a server runs in a process group of its own, which
// neither reaches.
var live = struct {
	sync.Mutex
	stops map[int]func()
}{stops: map[int]func(){}}

// stopAll stops every server still running.
func stopAll() {
	live.Lock()
	stops := live.stops
	live.stops = map[int]func(){}
	live.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// runServer starts cmd in a process group of its own and waits until
// port answers; stop kills the group and removes dir.
func runServer(name string, cmd *exec.Cmd, port int, dir string) server {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	check(cmd.Start())
	pid := cmd.Process.Pid
	kill := func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	live.Lock()
	live.stops[pid] = kill
	live.Unlock()
	stop := func() {
		live.Lock()
		delete(live.stops, pid)
		live.Unlock()
		kill()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			fatalf("%s did not start:\n%s", name, out.String())
		}
	}
	return server{port: port, pid: cmd.Process.Pid, stop: stop}
}

func nginxBinary() string    { return lookPath("nginx", "/usr/sbin/nginx") }
func varnishdBinary() string { return lookPath("varnishd", "/usr/sbin/varnishd") }

// lookPath finds name on PATH or at fallback (Debian's sbin, which a user's
// PATH may lack).
func lookPath(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	fatalf("%s is not installed (apt-get install %s, or ./xcaddy.sh bench)", name, strings.TrimSuffix(name, "d"))
	return ""
}

func freePort() int {
	port, err := proc.FreePort()
	check(err)
	return port
}

// cpuSeconds is the CPU time of a server's processes.
func cpuSeconds(pid int) float64 {
	s, err := proc.CPUSeconds(pid)
	check(err)
	return s
}

// peakRSS is the peak RSS of a server's processes, summed.
func peakRSS(pid int) int64 {
	rss, err := proc.TreePeakRSS(pid)
	check(err)
	return rss
}

func tempDir() string {
	dir, err := os.MkdirTemp("", "bench")
	check(err)
	return dir
}

// cpuModel names the processor, and whether it has the SHA extensions
// that make HMAC-SHA256 cheap.
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	model, sha := "unknown CPU", "without SHA extensions"
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok && model == "unknown CPU" {
			model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
		if strings.HasPrefix(line, "flags") && strings.Contains(line, " sha_ni") {
			sha = "with SHA extensions"
		}
	}
	return model + ", " + sha
}

// allowedCPUs is the CPU list this process may run on.
func allowedCPUs() string {
	raw, err := os.ReadFile("/proc/self/status")
	check(err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
