package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// upstream stands in for Azure Blob Storage at full speed. A blob's path,
// /devstoreaccount1/photos/<size>/<n>.bin, says how many bytes it has; they
// are streamed from one shared chunk, so a 1 GiB blob costs no memory. It
// answers HEAD and a Range of bytes=<first>-<last> (206), with a fixed ETag
// and Last-Modified, as the filesystem asks. A request with a query must
// carry a valid, unexpired SAS for that blob (or its container), checked
// with the sas package; anything else is refused and counted, so a wrong
// token shows as a failure, not as speed.
type upstream struct {
	key     *sas.SharedKey
	refused atomic.Int64
}

var chunk = []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB

func newUpstream(key *sas.SharedKey) *upstream { return &upstream{key: key} }

// listen serves the upstream on a free port of 127.0.0.1 and returns its
// address.
func (u *upstream) listen() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() { _ = http.Serve(ln, u) }()
	return ln.Addr().String()
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+sas.DevAccountName+"/")
	container, blob, _ := strings.Cut(rest, "/")
	if r.Method == http.MethodPut {
		u.put(w, r, container, blob)
		return
	}
	sizeText, _, _ := strings.Cut(blob, "/")
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if !ok || err != nil || size < 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.URL.RawQuery != "" && !u.valid(r.URL.RawQuery, container, blob) {
		u.refused.Add(1)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"0x8DC0BE4C4F1A2B3"`)
	h.Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
	status := http.StatusOK
	if first, last, ok := byteRange(r.Header.Get("Range"), size); ok {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)+"/"+strconv.FormatInt(size, 10))
		size, status = last-first+1, http.StatusPartialContent
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(status)
	for size > 0 {
		n := min(size, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		size -= n
	}
}

// put takes an upload, a Put Blob, Put Block or Put Block List: it checks
// the token, reads the body and drops it, and answers 201.
func (u *upstream) put(w http.ResponseWriter, r *http.Request, container, blob string) {
	token := r.URL.Query()
	token.Del("comp") // Put Block's and Put Block List's own parameters
	token.Del("blockid")
	if token.Get("sig") == "" || !u.valid(token.Encode(), container, blob) {
		u.refused.Add(1)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("ETag", `"0x8DC0BE4C4F1A2B4"`)
	w.WriteHeader(http.StatusCreated)
}

// byteRange reads bytes=<first>-<last> within size.
func byteRange(header string, size int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(header, "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !found || !dash {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first > last || last >= size {
		return 0, 0, false
	}
	return first, last, true
}

// valid checks a SAS the way Azure does: signature, resource and expiry.
func (u *upstream) valid(query, container, blob string) bool {
	tok, err := sas.Parse(query)
	if err != nil || !tok.Expiry.After(time.Now()) {
		return false
	}
	if tok.Resource == sas.ResourceContainer {
		blob = ""
	}
	return tok.VerifyService(u.key, container, blob, "") == nil
}
