// Command bench measures the azure_blob plugin against plain reverse_proxy:
// it serves blobs from a fast local upstream that checks every SAS with the
// sas package, runs the built caddy as a separate process for each case,
// drives keep-alive load at it over loopback, and prints requests/s,
// p50/p99 latency, Caddy's CPU seconds per 10,000 requests and its peak RSS,
// each also as a ratio to plain reverse_proxy. With the small blobs it also
// measures redirects (azure_blob redirect) and read links issued by
// azure_sas behind basic_auth, each answer checked. Run it with
// ./xcaddy.sh bench.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// A case is one way of reaching the upstream through Caddy. A case that
// answers with something other than the blob (a redirect, an issued URL)
// runs with the small blobs only, and is checked by answer.
type benchCase struct {
	name, site string
	path       func(size, i int) string // default: /<size>/<i>.bin
	answer     func(resp *http.Response, body []byte) error
	header     http.Header
}

func main() {
	caddyBin := flag.String("caddy", "./caddy", "the caddy binary to measure")
	seconds := flag.Int("seconds", 10, "length of each measurement")
	conns := flag.Int("conns", 16, "concurrent keep-alive connections")
	rounds := flag.Int("rounds", 2, "rounds; the cases alternate within each")
	flag.Parse()

	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	check(err)
	up := newUpstream(key)
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() { _ = http.Serve(upLn, up) }()
	upAddr := upLn.Addr().String()
	endpoint := "http://" + upAddr + "/" + sas.DevAccountName
	token, err := (&sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos",
		Expiry: time.Now().Add(24 * time.Hour)}).Sign(key)
	check(err)
	os.Setenv("AZ_BENCH_KEY", sas.DevAccountKey)
	os.Setenv("AZ_BENCH_TOKEN", token.Encode())
	hash, err := caddyauth.BcryptHash{}.Hash([]byte("bench-password"))
	check(err)
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-password"))}}

	cases := []benchCase{
		{name: "reverse_proxy", site: fmt.Sprintf("rewrite * /%s/photos{uri}\n\treverse_proxy %s", sas.DevAccountName, upAddr)},
		{name: "azure_blob", site: fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t}", endpoint)},
		{name: "azure_blob scope container", site: fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t\tscope container\n\t}", endpoint)},
		{name: "azure_blob sas_token", site: fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\tsas_token {env.AZ_BENCH_TOKEN}\n\t}", endpoint)},
		{name: "azure_blob redirect", site: fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t\tredirect\n\t}", endpoint),
			answer: func(resp *http.Response, _ []byte) error {
				if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "sig=") {
					return fmt.Errorf("%d without a signed Location", resp.StatusCode)
				}
				return nil
			}},
		{name: "azure_sas read link (basic_auth)", site: fmt.Sprintf("route /sas {\n\t\tbasic_auth {\n\t\t\tbench %s\n\t\t}\n\t\tazure_sas {\n\t\t\tendpoint %s\n\t\t\tcontainer photos\n\t\t\taccount_key {env.AZ_BENCH_KEY}\n\t\t}\n\t}", hash, endpoint),
			path:   func(size, i int) string { return fmt.Sprintf("/sas?blob=%d/%d.bin", size, i) },
			header: auth,
			answer: func(resp *http.Response, body []byte) error {
				if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("sig=")) {
					return fmt.Errorf("%d without a URL", resp.StatusCode)
				}
				return nil
			}},
	}
	sizes := []struct {
		name  string
		blobs int
		size  int
	}{{"1 KiB", 64, 1 << 10}, {"10 MiB", 1, 10 << 20}}

	results := map[string][]result{}
	for round := range *rounds {
		for si, s := range sizes {
			for _, c := range cases {
				if c.answer != nil && si > 0 {
					continue // a redirect or an issued URL costs the same for any size
				}
				r := measure(*caddyBin, c, s.blobs, s.size, time.Duration(*seconds)*time.Second, *conns)
				if up.refused.Load() != 0 {
					log.Fatalf("the upstream refused %d signatures in %s", up.refused.Load(), c.name)
				}
				k := s.name + "|" + c.name
				results[k] = append(results[k], r)
				log.Printf("round %d, %s, %s: %.0f req/s, p99 %v, %d errors", round+1, s.name, c.name, r.rps, r.p99, r.errors)
			}
		}
	}
	fmt.Printf("\n%s, %d cores, %d s x %d rounds, %d connections\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), *seconds, *rounds, *conns)
	fmt.Println("| objects | route | requests/s | p50 | p99 | CPU s / 10k requests | peak RSS |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, s := range sizes {
		ref := best(results[s.name+"|"+cases[0].name])
		for _, c := range cases {
			if len(results[s.name+"|"+c.name]) == 0 {
				continue
			}
			r := best(results[s.name+"|"+c.name])
			fmt.Printf("| %s | %s | %.0f (%.2f) | %v (%.2f) | %v (%.2f) | %.2f (%.2f) | %.1f MB (%.2f) |\n", s.name, c.name,
				r.rps, r.rps/ref.rps, r.p50.Round(time.Microsecond), ratio(r.p50, ref.p50), r.p99.Round(time.Microsecond), ratio(r.p99, ref.p99),
				r.cpuPer10k, r.cpuPer10k/ref.cpuPer10k, float64(r.peakRSS)/1e6, float64(r.peakRSS)/float64(ref.peakRSS))
		}
	}
	growth := streamHuge(*caddyBin, cases[1], 1<<30)
	fmt.Printf("\nA 1 GiB blob through azure_blob: Caddy's peak RSS grew %.1f MB while streaming it.\n", float64(growth)/1e6)
}

// result is one measurement of one case.
type result struct {
	rps, cpuPer10k float64
	p50, p99       time.Duration
	peakRSS        int64
	errors         int64
}

// best is the measurement with the most requests/s of a case's rounds.
func best(rs []result) result {
	return slices.MaxFunc(rs, func(a, b result) int {
		switch {
		case a.rps < b.rps:
			return -1
		case a.rps > b.rps:
			return 1
		}
		return 0
	})
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// measure runs caddy with one case and drives load at it.
func measure(caddyBin string, c benchCase, blobs, size int, d time.Duration, conns int) result {
	port, stop, pid := startCaddy(caddyBin, c.site)
	defer stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	path := c.path
	if path == nil {
		path = func(size, i int) string { return fmt.Sprintf("/%d/%d.bin", size, i) }
	}
	url := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, path(size, i%blobs)) }
	get := func(url string) error { return fetch(client, url, size, c) }
	for i := range blobs { // warm: connections and the token cache
		_ = get(url(i))
	}
	cpu0 := cpuSeconds(pid)
	var done, errs atomic.Int64
	lat := make([][]time.Duration, conns)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += conns {
				t0 := time.Now()
				if err := get(url(i)); err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{rps: float64(done.Load()) / elapsed.Seconds(), errors: errs.Load(), peakRSS: peakRSS(pid)}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
		r.cpuPer10k = (cpuSeconds(pid) - cpu0) / float64(len(all)) * 10000
	}
	return r
}

// fetch asks for url as case c does and checks the answer: the blob's
// size bytes, or what c.answer wants.
func fetch(client *http.Client, url string, size int, c benchCase) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for name, values := range c.header {
		req.Header[name] = values
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if c.answer != nil {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return c.answer(resp, body)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || n != int64(size)) {
		err = fmt.Errorf("%d, %d bytes", resp.StatusCode, n)
	}
	return err
}

// streamHuge reads one blob of size through a case and returns how much
// Caddy's peak RSS grew meanwhile.
func streamHuge(caddyBin string, c benchCase, size int) int64 {
	port, stop, pid := startCaddy(caddyBin, c.site)
	defer stop()
	client := &http.Client{}
	check(fetch(client, fmt.Sprintf("http://127.0.0.1:%d/%d/0.bin", port, 1<<10), 1<<10, c))
	before := peakRSS(pid)
	check(fetch(client, fmt.Sprintf("http://127.0.0.1:%d/%d/0.bin", port, size), size, c))
	return peakRSS(pid) - before
}

// startCaddy runs caddy with site on a free port and waits until it answers.
func startCaddy(caddyBin, site string) (port int, stop func(), pid int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "bench")
	check(err)
	config := filepath.Join(dir, "Caddyfile")
	check(os.WriteFile(config, []byte(fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n\tauto_https off\n\tstorage file_system %s\n\tlog {\n\t\tlevel ERROR\n\t}\n}\nhttp://127.0.0.1:%d {\n\tbind 127.0.0.1\n\t%s\n}\n", dir, port, site)), 0o600))
	cmd := exec.Command(caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	check(cmd.Start())
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			log.Fatalf("caddy did not start:\n%s", out.String())
		}
	}
	return port, func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}, cmd.Process.Pid
}

// cpuSeconds is the user and system CPU time of a process (Linux).
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}

// peakRSS is a process's peak resident set size in bytes (Linux VmHWM).
func peakRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	check(errors.New("no VmHWM in /proc status"))
	return 0
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
