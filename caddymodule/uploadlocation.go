package caddymodule

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// The placeholders of a stored upload, set for the rest of the request
// and escaped as a URL path in location.
const (
	placeholderUploadName = "http.azure_upload.name"
	placeholderUploadBlob = "http.azure_upload.blob"
)

// checkLocation refuses a location that is neither a path nor an
// absolute http(s) URL, which a browser would resolve against the page.
func checkLocation(location string) error {
	if location == "" || strings.HasPrefix(location, "/") && !strings.HasPrefix(location, "//") {
		return nil
	}
	if strings.HasPrefix(location, "https://") || strings.HasPrefix(location, "http://") {
		return nil
	}
	return errors.New(`location: give a path, as /media/{http.azure_upload.blob}, or an absolute URL, as https://cdn.example.com/{http.azure_upload.blob}`)
}

// location is where the stored file is read: location with the upload's
// placeholders, or the request's path. It sets the placeholders plain for
// what comes after (a log, a header).
func (u *Uploader) location(r *http.Request, result *uploaded) string {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		repl = caddy.NewReplacer()
	}
	repl.Set(placeholderUploadName, result.name)
	repl.Set(placeholderUploadBlob, result.Blob)
	if u.Location == "" {
		return r.URL.EscapedPath()
	}
	escaped := caddy.NewReplacer()
	escaped.Map(func(key string) (any, bool) {
		switch key {
		case placeholderUploadName:
			return escapePath(result.name), true
		case placeholderUploadBlob:
			return escapePath(result.Blob), true
		}
		return repl.Get(key)
	})
	return escaped.ReplaceAll(u.Location, "")
}

// escapePath escapes a name for a URL path, its slashes kept.
func escapePath(name string) string { return (&url.URL{Path: name}).EscapedPath() }
