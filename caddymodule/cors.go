package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CORS lets pages on other origins read what a handler answers: a
// preflight (OPTIONS with Origin and Access-Control-Request-Method) from a
// listed origin is answered 204 with what it may send, and every answer to
// a listed origin, errors and 304 included, carries
// Access-Control-Allow-Origin, so that a page can tell a missing blob from
// a network failure. An origin that is not listed gets no Access-Control-*
// header, and the browser keeps the answer from the page.
type CORS struct {
	// Origins are the origins whose pages may read, each as
	// scheme://host[:port], or "*" alone for any. Named origins may send
	// credentials (cookies, basic_auth) and read the answer; "*" may not.
	Origins []string `json:"origins,omitempty"`
}

// corsRules are what a handler's answers allow: the methods and request
// headers a preflight grants, the response headers a page may read, and
// whether named origins may send credentials.
type corsRules struct {
	methods, requestHeaders, exposed string
	credentialsOnly                  bool // "*" is refused: the handler is always behind authentication
}

// The rules of the handlers that take cors.
var (
	// azure_blob: reads, ranges and conditions, and the headers a player
	// or a download manager needs.
	blobCORS = corsRules{
		methods:        "GET, HEAD",
		requestHeaders: "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range",
		exposed:        "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified",
	}
	// azure_sas: a request for a URL, asked with a query or a JSON body.
	sasCORS = corsRules{
		methods:         "GET, POST",
		requestHeaders:  "Content-Type",
		credentialsOnly: true,
	}
)

// corsMaxAge is how long a browser may keep a preflight's answer, in
// seconds: Chromium keeps it two hours at most.
const corsMaxAge = "3600"

// validate checks the origins: "*" alone (not where credentials are sent),
// or origins as a browser sends them, without path, query or user.
func (c *CORS) validate(rules corsRules) error {
	if c == nil {
		return nil
	}
	if len(c.Origins) == 0 {
		return errors.New("cors: give the origins whose pages may read, such as https://app.example.com, or *")
	}
	for _, o := range c.Origins {
		if o == "*" {
			switch {
			case len(c.Origins) > 1:
				return errors.New("cors: * stands alone: it already lets any origin read")
			case rules.credentialsOnly:
				return errors.New("cors: azure_sas answers authenticated requests, and a browser sends credentials only to a named origin: " +
					"name the origins of your pages instead of *")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("cors: %q is not an origin: write scheme://host[:port], as https://app.example.com", o)
		}
		if o != strings.TrimSuffix(strings.ToLower(o), "/") {
			return fmt.Errorf("cors: %q: write the origin as a browser sends it, in lower case and without a trailing /", o)
		}
	}
	return nil
}

// allowOrigin is the Access-Control-Allow-Origin of an answer to r, or ""
// when r comes from no origin that may read.
func (c *CORS) allowOrigin(r *http.Request) string {
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return ""
	case len(c.Origins) == 1 && c.Origins[0] == "*":
		return "*"
	case slices.Contains(c.Origins, origin):
		return origin
	}
	return ""
}

// serve answers a preflight from an origin that may read, and reports
// whether it did; to any other request from such an origin it adds the
// headers that let the page read the answer. Named origins vary the answer,
// so it says so (Vary: Origin) to every request, for caches.
func (c *CORS) serve(w http.ResponseWriter, r *http.Request, rules corsRules) bool {
	if c == nil {
		return false
	}
	h := w.Header()
	allow := c.allowOrigin(r)
	named := allow != "*"
	if named {
		addVary(h, "Origin")
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if allow == "" {
		return false
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if named {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		if rules.exposed != "" {
			h.Set("Access-Control-Expose-Headers", rules.exposed)
		}
		return false
	}
	addVary(h, "Access-Control-Request-Method")
	addVary(h, "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", rules.methods)
	h.Set("Access-Control-Allow-Headers", rules.requestHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// addVary adds name to h's Vary, unless it is there.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for field := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(field), name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}
