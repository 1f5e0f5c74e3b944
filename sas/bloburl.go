package sas

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

// BlobURL is a blob or container URL as users paste it, with or without a
// SAS, split into where it points and its token.
type BlobURL struct {
	// Address is the URL without its query: the scheme in lower case, the
	// path escaped as net/url writes it.
	Address string

	// Endpoint is the blob service: scheme, host and, on a path-style
	// endpoint, the account's path.
	Endpoint BlobEndpoint

	// Account is named by the host (NAME.blob.core.windows.net) or, on a
	// path-style endpoint such as Azurite's, by the first path segment
	// (PathStyle is then true); "" when neither names one.
	Account   string
	PathStyle bool

	// Container and Blob are decoded; Blob is "" for a container URL.
	Container, Blob string

	// Token is the SAS parameters of the query, as written, joined with
	// '&'; zero when the query has none. It prints redacted; Encode returns
	// it, for Parse.
	Token Token

	// OtherParams names the query's parameters that are not part of a SAS
	// (snapshot, versionid, comp …): the request's own. A name that does not
	// read as one (it may be a piece of a mangled signature) is "".
	OtherParams []string
}

// ParseBlobURL splits a blob or container URL. Its errors never quote the
// URL, whose query may hold a signature.
func ParseBlobURL(raw string) (*BlobURL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an http(s) URL with a host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("the URL has a '#': a token must come before any fragment, and a '#' inside it must be written %23")
	}
	b := &BlobURL{
		Address:  u.Scheme + "://" + u.Host + u.EscapedPath(),
		Endpoint: BlobEndpoint{Scheme: u.Scheme, Host: u.Host},
	}
	path := strings.TrimPrefix(u.Path, "/")
	if b.Account = b.Endpoint.Account(); b.Account == "" {
		b.Account, path, _ = strings.Cut(path, "/")
		b.PathStyle = b.Account != ""
		if b.PathStyle {
			b.Endpoint.Path = "/" + b.Account
		}
	}
	b.Container, b.Blob, _ = strings.Cut(path, "/")

	var token []string
	for part := range strings.SplitSeq(u.RawQuery, "&") {
		if part == "" {
			continue
		}
		rawName, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		switch {
		case err == nil && tokenParams[name]:
			token = append(token, part)
		case err == nil && plainName(name):
			b.OtherParams = append(b.OtherParams, name)
		default:
			b.OtherParams = append(b.OtherParams, "")
		}
	}
	if len(token) > 0 {
		b.Token = newToken(strings.Join(token, "&"), time.Time{})
	}
	return b, nil
}

// plainName reports whether s reads as a parameter name: up to 16 ASCII
// letters, digits, '-' and '_'. Anything else may be a piece of a
// signature, and is not quoted.
func plainName(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
