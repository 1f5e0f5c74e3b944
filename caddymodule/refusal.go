package caddymodule

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// refusal is the transport's answer to a request it does not send to Azure.
type refusal struct {
	code   int
	reason string // safe to show: it quotes nothing from the request
}

// response is the refusal as a response to req: a short plain-text body
// (none for HEAD), the Cache-Control of an error, and Allow on a 405.
func (r *refusal) response(req *http.Request) *http.Response {
	body := r.reason + "\n"
	if req.Method == http.MethodHead {
		body = ""
	}
	resp := &http.Response{
		Status:     strconv.Itoa(r.code) + " " + http.StatusText(r.code),
		StatusCode: r.code,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":           {"text/plain; charset=utf-8"},
			"Content-Length":         {strconv.Itoa(len(r.reason) + 1)},
			"X-Content-Type-Options": {"nosniff"},
			"Cache-Control":          {errorCacheControl(r.code)},
		},
		Body:          http.NoBody,
		ContentLength: int64(len(body)),
		Request:       req,
	}
	if body != "" {
		resp.Body = io.NopCloser(strings.NewReader(body))
	}
	if r.code == http.StatusMethodNotAllowed {
		resp.Header.Set("Allow", "GET, HEAD")
	}
	return resp
}
