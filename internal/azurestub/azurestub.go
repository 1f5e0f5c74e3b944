// Package azurestub is a stand-in for Azure Blob Storage for the tests that
// check what Azure receives: an httptest server that records every request
// it gets and answers it either from blobs it holds or with statuses the
// test scripts.
//
// Azurite (internal/azurite) is the real peer of the tests: it checks the
// tokens and serves what Azure would. The stand-in is for what Azurite
// cannot show: each request exactly as sent (path, query, headers, body,
// trailers), answers Azurite never gives when asked (a 403 that a fresh
// token heals, a 503 with Retry-After), and a blob replaced between two
// requests. It checks no token.
//
// It answers in one of two ways, chosen when it starts:
//
//   - New: from the blobs Put in it, as Azure does: GET and HEAD, ETag,
//     Content-Length and the blob's properties, one range a-b or a- (206,
//     or 416 past the end), If-Match (412) and If-None-Match (304); 404
//     BlobNotFound for any other name.
//   - Scripted: every request, whatever it names, gets the next of the
//     statuses given (200 once they run out).
//
// A Hook sees each request before it is answered, and may answer it
// itself: for the cases each test has of its own.
//
// The package is internal to this module: the internal and external tests
// of the Caddy module import it. It is for tests only.
package azurestub

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Account is the storage account the stand-in serves: Azurite's, so tests
// sign for it with sas.DevAccountKey.
const Account = sas.DevAccountName

// ScriptedBody is the body of a scripted success: 10 bytes, the length a
// HEAD reports, so a test can work out the ranges a proxy asks for.
const ScriptedBody = "blob bytes"

// scriptedETag is the ETag of every scripted answer.
const scriptedETag = `"0x1"`

// scriptedError is the body of a scripted error: real Azure quotes the
// string-to-sign in the AuthenticationErrorDetail of a 403, which no
// client may be shown.
const scriptedError = "<Error><AuthenticationErrorDetail>String to sign used was r\n\n2030</AuthenticationErrorDetail></Error>"

// Request is what the stand-in recorded of one request.
type Request struct {
	Method           string
	Host             string
	Path             string // decoded
	EscapedPath      string // as sent: the request's URL.EscapedPath()
	RawQuery         string // as sent
	Query            url.Values
	Header           http.Header
	Trailer          http.Header // read after the body, as a server gets them
	ContentLength    int64
	TransferEncoding []string
	Body             []byte
	Status           int // the status it was answered with
}

// Server is a running stand-in for Azure Blob Storage. It is closed when
// the test that started it ends.
type Server struct {
	*httptest.Server
	// Endpoint is Account's path-style blob endpoint, with no trailing
	// slash: URL + "/" + Account.
	Endpoint string

	t        testing.TB
	mu       sync.Mutex
	scripted bool
	script   []int
	blobs    map[string]blob // by decoded path: /account/container/name
	etags    int             // ETags handed out, so each version's is new
	hooks    []func(http.ResponseWriter, *http.Request) bool
	got      []Request
}

// blob is one version of a blob the stand-in holds.
type blob struct {
	data       []byte
	etag       string
	properties http.Header
}

// New starts a stand-in that serves the blobs Put in it and answers 404
// BlobNotFound for any other name.
func New(t testing.TB) *Server {
	t.Helper()
	return start(t, false, nil)
}

// Scripted starts a stand-in that answers every request, whatever its
// path, range or conditions, with the next of statuses (200 once they run
// out): a success with ScriptedBody, an error with an error document that
// quotes a string-to-sign, and a 403 as an AuthenticationFailed. Every
// answer carries the ETag "0x1" and Azure's Server and x-ms-request-id
// headers.
func Scripted(t testing.TB, statuses ...int) *Server {
	t.Helper()
	return start(t, true, slices.Clone(statuses))
}

func start(t testing.TB, scripted bool, script []int) *Server {
	s := &Server{t: t, scripted: scripted, script: script, blobs: make(map[string]blob)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.Endpoint = s.URL + "/" + Account
	t.Cleanup(s.Close)
	return s
}

// Put stores data as the blob name of container, replacing any version
// before, and returns the new version's ETag. properties are the headers
// Azure sends back with the blob (Content-Type, Content-Encoding, …).
func (s *Server) Put(container, name string, data []byte, properties http.Header) (etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.etags++
	etag = fmt.Sprintf(`"0x8DC%012X"`, s.etags)
	s.blobs["/"+Account+"/"+container+"/"+name] = blob{data: slices.Clone(data), etag: etag, properties: properties.Clone()}
	return etag
}

// Hook adds h to the hooks that see each request, once it is recorded and
// before the stand-in answers it, in the order they were added; the body
// can be read again. A hook that answers the request returns true, and the
// hooks after it are not called; it may call Answer, then change what the
// stand-in holds.
func (s *Server) Hook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, h)
}

// Requests returns what the stand-in has recorded, in the order the
// requests came.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// serve records r, then lets the hooks or Answer answer it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	assert.NoError(s.t, err, "the stand-in for Azure reading a request's body")
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := Request{
		Method: r.Method, Host: r.Host,
		Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
		Header: r.Header.Clone(), Trailer: r.Trailer.Clone(),
		ContentLength: r.ContentLength, TransferEncoding: slices.Clone(r.TransferEncoding), Body: body,
	}
	s.mu.Lock()
	n := len(s.got)
	s.got = append(s.got, rec)
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	answered := false
	for _, h := range hooks {
		if answered = h(sw, r); answered {
			break
		}
	}
	if !answered {
		s.Answer(sw, r)
	}
	s.mu.Lock()
	s.got[n].Status = sw.written()
	s.mu.Unlock()
}

// Answer answers r as the stand-in does when no hook has: with the next
// scripted status, or from the blobs it holds.
func (s *Server) Answer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "Windows-Azure-Blob/1.0")
	w.Header().Set("x-ms-request-id", "abc")
	s.mu.Lock()
	if s.scripted {
		status := http.StatusOK
		if len(s.script) > 0 {
			status, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		answerScripted(w, status)
		return
	}
	b, ok := s.blobs[r.URL.Path]
	s.mu.Unlock()
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		WriteError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb")
	case !ok:
		WriteError(w, http.StatusNotFound, "BlobNotFound")
	default:
		b.answer(w, r)
	}
}

func answerScripted(w http.ResponseWriter, status int) {
	w.Header().Set("ETag", scriptedETag)
	if status == http.StatusForbidden {
		w.Header().Set("x-ms-error-code", "AuthenticationFailed")
	}
	if status >= 400 {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprint(w, scriptedError)
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, ScriptedBody)
}

// answer serves the blob for r, honouring its conditions and range.
func (b blob) answer(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if m := r.Header.Values("If-Match"); len(m) > 0 && !listsETag(m, b.etag) {
		WriteError(w, http.StatusPreconditionFailed, "ConditionNotMet")
		return
	}
	if m := r.Header.Values("If-None-Match"); len(m) > 0 && listsETag(m, b.etag) {
		h.Set("ETag", b.etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	size := len(b.data)
	status, first, last := http.StatusOK, 0, size-1
	if f, l, ok := singleRange(r.Header.Get("Range")); ok {
		if f >= size {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			WriteError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
			return
		}
		status, first, last = http.StatusPartialContent, f, min(l, size-1)
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
	}
	for name, values := range b.properties {
		h[textproto.CanonicalMIMEHeaderKey(name)] = slices.Clone(values)
	}
	h.Set("ETag", b.etag)
	h.Set("Content-Length", strconv.Itoa(last-first+1))
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b.data[first : last+1])
	}
}

// listsETag reports whether the If-Match or If-None-Match values name etag
// or are "*".
func listsETag(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			if tag = strings.TrimSpace(tag); tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// singleRange parses a Range of one range a-b or a-, the forms Azure
// serves; l is math.MaxInt for a-. Any other Range is ignored, as
// Azure ignores what it does not serve.
func singleRange(header string) (f, l int, ok bool) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || a == "" {
		return 0, 0, false
	}
	f, err := strconv.Atoi(a)
	if err != nil || f < 0 {
		return 0, 0, false
	}
	if b == "" {
		return f, math.MaxInt, true
	}
	l, err = strconv.Atoi(b)
	if err != nil || l < f {
		return 0, 0, false
	}
	return f, l, true
}

// WriteError answers as Azure does when it refuses a request: status, code
// in x-ms-error-code (when not empty) and an XML error document naming it,
// which a proxy must not pass on to its clients.
func WriteError(w http.ResponseWriter, status int, code string) {
	if code != "" {
		w.Header().Set("x-ms-error-code", code)
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, http.StatusText(status))
}

// statusWriter keeps the status an answer was written with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 { // 1xx are interim answers
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (and so httputil.ReverseProxy, in a
// hook) reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// written is the status of the answer; a handler that wrote nothing
// answered 200.
func (w *statusWriter) written() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
