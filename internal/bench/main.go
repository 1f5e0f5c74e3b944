// Command bench measures the azure_blob plugin against plain reverse_proxy:
// it serves blobs from a fast local upstream that checks every SAS with the
// sas package, runs the built caddy as a separate process for each case,
// drives keep-alive load at it over loopback, and prints, as the median and
// the min–max of interleaved rounds, the server's CPU time per request (the
// primary figure: it does not depend on what else the machine does),
// requests/s, p99 latency and peak RSS, each against plain reverse_proxy.
// The servers run pinned to one core (taskset), the bench process (upstream
// and load generator) should run on the other: ./xcaddy.sh bench does both.
// With the small blobs it also measures redirects (azure_blob redirect) and
// read links issued by azure_sas behind basic_auth, each answer checked;
// with both sizes, file_server over the azure_blob filesystem.
// Two reference rows: Debian's nginx proxying the same upstream with a
// fixed SAS appended, as a user would without the plugin, and Varnish
// answering from its cache in front of azure_blob, as the shield of
// "Deploying at scale" in docs/deploying.md does.
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
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/proc"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// A case is one server the load is driven at. A case that answers with
// something other than the blob (a redirect, an issued URL) runs with the
// small blobs only, and is checked by answer.
type benchCase struct {
	name   string
	put    bool // uploads: PUTs the size's bytes, expects 201
	start  func() server
	path   func(size, i int) string // default: /<size>/<i>.bin
	answer func(resp *http.Response, body []byte) error
	header http.Header
}

// size is a set of blobs of one size that the load reads in turn, or,
// for upload, writes.
type size struct {
	name        string
	blobs, size int
	upload      bool
}

func main() {
	caddyBin := flag.String("caddy", "./caddy", "the caddy binary to measure")
	seconds := flag.Int("seconds", 3, "length of each measurement")
	conns := flag.Int("conns", 16, "concurrent keep-alive connections")
	rounds := flag.Int("rounds", 8, "rounds; the cases alternate within each")
	pin := flag.String("pin", defaultPin(), `CPUs (taskset -c) the servers run on; "" for none`)
	profile := flag.String("profile", "", `profile one case, e.g. "10 MiB|azure_blob", into bench.pprof instead of measuring`)
	flag.Parse()
	p := &pinning{serverCPU: *pin}
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() { fatalf("%v: stopping", <-interrupted) }()
	if p.serverCPU != "" {
		if _, err := exec.LookPath("taskset"); err != nil {
			fatalf("taskset is not installed (util-linux); -pin '' measures unpinned")
		}
	}

	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	check(err)
	up := newUpstream(key)
	upAddr := up.listen()
	endpoint := "http://" + upAddr + "/" + sas.DevAccountName
	token, err := (&sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "photos",
		Expiry: time.Now().Add(24 * time.Hour)}).Sign(key)
	check(err)
	os.Setenv("AZ_BENCH_KEY", sas.DevAccountKey)
	os.Setenv("AZ_BENCH_TOKEN", token.Encode())
	putToken, err := (&sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermCreate | sas.PermWrite, Container: "photos",
		Expiry: time.Now().Add(24 * time.Hour)}).Sign(key)
	check(err)
	hash, err := caddyauth.BcryptHash{}.Hash([]byte("bench-password"))
	check(err)
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-password"))}}

	caddy := func(site string) func() server { return func() server { return p.startCaddy(*caddyBin, site) } }
	azureBlob := fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t}", endpoint)
	cases := []benchCase{
		{name: "reverse_proxy", start: caddy(fmt.Sprintf("rewrite * /%s/photos{uri}\n\treverse_proxy %s", sas.DevAccountName, upAddr))},
		// azure_blob's transport times out a stalled read (read_timeout 1m,
		// response_header_timeout 30s by default); Caddy does that with a
		// deadline set on every read. The same, without the plugin:
		{name: "reverse_proxy, azure_blob's timeouts", start: caddy(fmt.Sprintf("rewrite * /%s/photos{uri}\n\treverse_proxy %s {\n\t\ttransport http {\n\t\t\tread_timeout 1m\n\t\t\tresponse_header_timeout 30s\n\t\t}\n\t}", sas.DevAccountName, upAddr))},
		{name: "azure_blob", start: caddy(azureBlob)},
		{name: "azure_blob scope container", start: caddy(fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t\tscope container\n\t}", endpoint))},
		{name: "azure_blob sas_token", start: caddy(fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\tsas_token {env.AZ_BENCH_TOKEN}\n\t}", endpoint))},
		{name: "azure_blob redirect", start: caddy(fmt.Sprintf("azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t\tredirect\n\t}", endpoint)),
			answer: func(resp *http.Response, _ []byte) error {
				if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "sig=") {
					return fmt.Errorf("%d without a signed Location", resp.StatusCode)
				}
				return nil
			}},
		{name: "azure_sas read link (basic_auth)", start: caddy(fmt.Sprintf("route /sas {\n\t\tbasic_auth {\n\t\t\tbench %s\n\t\t}\n\t\tazure_sas {\n\t\t\tendpoint %s\n\t\t\tcontainer photos\n\t\t\taccount_key {env.AZ_BENCH_KEY}\n\t\t}\n\t}", hash, endpoint)),
			path:   func(size, i int) string { return fmt.Sprintf("/sas?blob=%d/%d.bin", size, i) },
			header: auth,
			answer: func(resp *http.Response, body []byte) error {
				if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("sig=")) {
					return fmt.Errorf("%d without a URL", resp.StatusCode)
				}
				return nil
			}},
		// file_server over the azure_blob filesystem: a HEAD the first time,
		// then a ranged GET per request while the name is kept (5 s).
		{name: "file_server, azure_blob filesystem", start: func() server {
			return p.startCaddyWith(*caddyBin, fmt.Sprintf("\tfilesystem photos azure_blob {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t}\n", endpoint),
				"fs photos\n\tfile_server")
		}},
		// Uploads of 64 MiB: a PUT that reverse_proxy passes with a fixed
		// SAS (no limits), and azure_upload (size, type, create-only,
		// blocks with their CRC-64, then the commit).
		{name: "reverse_proxy PUT, fixed SAS", put: true,
			// The token is written into the config: rewrite escapes what a
			// placeholder puts in a query.
			start: caddy(fmt.Sprintf("rewrite * /%s/photos{path}?%s\n\treverse_proxy %s", sas.DevAccountName, putToken.Encode(), upAddr))},
		{name: "azure_upload", put: true, start: caddy(fmt.Sprintf("azure_upload {\n\t\tendpoint %s\n\t\tcontainer photos\n\t\taccount_key {env.AZ_BENCH_KEY}\n\t\tmax_size 128MiB\n\t\ttypes text/plain\n\t}", endpoint))},
		{name: "reference: nginx, fixed SAS", start: func() server { return p.startNginx(upAddr, token.Encode()) }},
		{name: "reference: Varnish hits", start: func() server { return p.startVarnish(p.startCaddy(*caddyBin, azureBlob)) }},
	}
	sizes := []size{{"1 KiB", 64, 1 << 10, false}, {"10 MiB", 1, 10 << 20, false}, {"64 MiB upload", 4, 64 << 20, true}}

	if *profile != "" {
		profileCase(p, cases, sizes, *profile, time.Duration(*seconds)*time.Second, *conns)
		return
	}

	results := map[string][]result{}
	for round := range *rounds {
		for si, s := range sizes {
			// Each round starts at another case, so no case always runs
			// first or after the same one.
			for ci := range cases {
				c := cases[(ci+round)%len(cases)]
				if c.answer != nil && si > 0 || c.put != s.upload {
					continue // a redirect or an issued URL costs the same for any size; uploads have sizes of their own
				}
				r := measure(c, s, time.Duration(*seconds)*time.Second, *conns)
				if up.refused.Load() != 0 {
					fatalf("the upstream refused %d signatures in %s", up.refused.Load(), c.name)
				}
				if r.errors != 0 {
					fatalf("%s, %s: %d requests failed", s.name, c.name, r.errors)
				}
				k := s.name + "|" + c.name
				results[k] = append(results[k], r)
				log.Printf("round %d, %s, %s: %.0f req/s, %.1f µs CPU/request", round+1, s.name, c.name, r.rps, micros(r))
			}
		}
	}
	pinned := "servers unpinned"
	if p.serverCPU != "" {
		pinned = fmt.Sprintf("servers pinned to CPU %s, the bench (upstream, load) to CPU %s", p.serverCPU, allowedCPUs())
	}
	fmt.Printf("\n%s, %s; %s; %d s x %d interleaved rounds, %d connections\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), pinned, *seconds, *rounds, *conns)
	printTable(sizes, cases, results)
	fmt.Println("\nValues are medians (min–max) of the rounds. Ratios are to reverse_proxy (for uploads, its plain PUT) in the same round, then the median (min–max) of those.")
	fmt.Println("* marks a ratio whose case's min–max does not overlap reverse_proxy's, over 6 rounds or more: significant; ~ marks one that is not.")
	fmt.Println()
	printUploads(sizes, cases, results)
	growth := streamHuge(p, *caddyBin, azureBlob, 1<<30)
	fmt.Printf("\nA 1 GiB blob through azure_blob: Caddy's peak RSS grew %.1f MB while streaming it.\n", float64(growth)/1e6)
}

// profileCase drives load at one case ("size|name") with Caddy's admin
// API on, and saves a CPU profile of Caddy taken meanwhile to bench.pprof
// (go tool pprof -top bench.pprof).
func profileCase(p *pinning, cases []benchCase, sizes []size, which string, d time.Duration, conns int) {
	sizeName, caseName, _ := strings.Cut(which, "|")
	si := slices.IndexFunc(sizes, func(s size) bool { return s.name == sizeName })
	ci := slices.IndexFunc(cases, func(c benchCase) bool { return c.name == caseName })
	if si < 0 || ci < 0 {
		fatalf("-profile %q: no such size and case", which)
	}
	p.admin = fmt.Sprintf("127.0.0.1:%d", freePort())
	done := make(chan result)
	go func() { done <- measure(cases[ci], sizes[si], d+2*time.Second, conns) }()
	time.Sleep(time.Second) // started and warm
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.admin, int(d.Seconds())))
	check(err)
	defer resp.Body.Close()
	f, err := os.Create("bench.pprof")
	check(err)
	_, err = io.Copy(f, resp.Body)
	check(errors.Join(err, f.Close()))
	r := <-done
	log.Printf("%s: %.0f req/s, %.1f µs CPU/request; profile in bench.pprof", which, r.rps, micros(r))
}

// defaultPin pins the servers to the last CPU when there are two or more.
func defaultPin() string {
	if runtime.NumCPU() < 2 {
		return ""
	}
	return fmt.Sprint(runtime.NumCPU() - 1)
}

// measure starts a case's server and drives load at it.
func measure(c benchCase, s size, d time.Duration, conns int) result {
	srv := c.start()
	defer srv.stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	path := c.path
	if path == nil {
		path = func(size, i int) string { return fmt.Sprintf("/%d/%d.bin", size, i) }
	}
	url := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d%s", srv.port, path(s.size, i%s.blobs)) }
	get := func(url string) error { return fetch(client, url, s.size, c) }
	for i := range s.blobs { // warm: connections, the token cache, Varnish's objects
		_ = get(url(i))
	}
	cpu0 := cpuSeconds(srv.pid)
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
	cpu := cpuSeconds(srv.pid) - cpu0
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{rps: float64(done.Load()) / elapsed.Seconds(), errors: errs.Load(), peakRSS: peakRSS(srv.pid)}
	if len(all) > 0 {
		r.p99 = all[len(all)*99/100]
		r.cpuPerRq = time.Duration(cpu / float64(len(all)) * float64(time.Second))
	}
	return r
}

// uploadBody is what the uploads send: the upstream's pattern, 64 MiB.
var uploadBody = bytes.Repeat(chunk, (64<<20)/len(chunk))

// fetch asks for url as case c does and checks the answer: the blob's
// size bytes, or what c.answer wants; an upload sends size bytes and
// wants 201.
func fetch(client *http.Client, url string, size int, c benchCase) error {
	method, body := http.MethodGet, io.Reader(nil)
	if c.put {
		method, body = http.MethodPut, bytes.NewReader(uploadBody[:size])
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	if c.put {
		req.Header.Set("x-ms-blob-type", "BlockBlob")
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
	if c.put {
		if err == nil && resp.StatusCode != http.StatusCreated {
			err = fmt.Errorf("%d", resp.StatusCode)
		}
		return err
	}
	if err == nil && (resp.StatusCode != http.StatusOK || n != int64(size)) {
		err = fmt.Errorf("%d, %d bytes", resp.StatusCode, n)
	}
	return err
}

// streamHuge reads one blob of size through Caddy with site and returns
// how much Caddy's peak RSS grew meanwhile.
func streamHuge(p *pinning, caddyBin, site string, size int) int64 {
	srv := p.startCaddy(caddyBin, site)
	defer srv.stop()
	client := &http.Client{}
	c := benchCase{}
	check(fetch(client, fmt.Sprintf("http://127.0.0.1:%d/%d/0.bin", srv.port, 1<<10), 1<<10, c))
	check(proc.ResetPeakRSS(srv.pid)) // the peak from here on
	before := peakRSS(srv.pid)
	check(fetch(client, fmt.Sprintf("http://127.0.0.1:%d/%d/0.bin", srv.port, size), size, c))
	return peakRSS(srv.pid) - before
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

// fatalf stops the servers still running, then exits with the message.
func fatalf(format string, args ...any) {
	stopAll()
	log.Fatalf(format, args...)
}
