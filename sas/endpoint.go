package sas

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// BlobEndpoint is where a storage account's blob service answers: a scheme,
// a host and, on a path-style endpoint such as Azurite's, the account's
// path. A blob's URL is the endpoint, then /container/blob.
type BlobEndpoint struct {
	Scheme string // http or https
	Host   string // host[:port], as sent in Host
	Path   string // "" on Azure, "/devstoreaccount1" on Azurite; never a trailing '/'
}

// ParseBlobEndpoint reads a blob endpoint: an http(s) URL with a host and
// no query, fragment or user info. Its errors never quote the URL: a pasted
// SAS URL carries a signature.
func ParseBlobEndpoint(raw string) (BlobEndpoint, error) {
	return parseBlobEndpoint("blob endpoint", raw)
}

// parseBlobEndpoint is ParseBlobEndpoint with errors that name setting.
func parseBlobEndpoint(setting, raw string) (BlobEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return BlobEndpoint{}, fmt.Errorf("%s is not an http(s) URL with a host", setting)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return BlobEndpoint{}, fmt.Errorf("%s must not carry a query, fragment or user info (a SAS goes apart from it)", setting)
	}
	return BlobEndpoint{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimRight(u.Path, "/")}, nil
}

// DefaultBlobEndpoint is the endpoint of an account in Azure's public
// cloud: https://<account>.blob.core.windows.net.
func DefaultBlobEndpoint(account string) BlobEndpoint {
	return BlobEndpoint{Scheme: "https", Host: account + ".blob.core.windows.net"}
}

// String returns the endpoint as a URL, without a trailing '/'.
func (e BlobEndpoint) String() string { return e.Scheme + "://" + e.Host + e.EscapedPath() }

// EscapedPath returns Path escaped for a URL, as net/url writes it.
func (e BlobEndpoint) EscapedPath() string {
	for i := 0; i < len(e.Path); i++ {
		if c := e.Path[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return (&url.URL{Path: e.Path}).EscapedPath()
		}
	}
	return e.Path // the usual "" or "/account": nothing to escape, nothing to allocate
}

// IsZero reports whether e is the zero endpoint.
func (e BlobEndpoint) IsZero() bool { return e == BlobEndpoint{} }

// Account returns the account the endpoint names: HostAccount, or else
// the first path segment of a path-style endpoint. It returns "" when
// neither applies; the name is not checked.
func (e BlobEndpoint) Account() string {
	if account := e.HostAccount(); account != "" {
		return account
	}
	first, _, _ := strings.Cut(strings.Trim(e.Path, "/"), "/")
	return first
}

// HostAccount returns the account the endpoint's host names: the first
// label of NAME.blob.core.windows.net (or of another cloud's
// NAME.blob.SUFFIX), of a private endpoint's NAME.privatelink.blob.SUFFIX
// and of an Azure DNS zone endpoint's NAME.zNN.blob.storage.azure.net;
// NAME-secondary (read-access geo-redundant storage) names NAME. A custom
// domain or an IP address names none: "".
func (e BlobEndpoint) HostAccount() string {
	host := e.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host) // DNS names know no case; account names are lower case
	label, rest, ok := strings.Cut(host, ".")
	if !ok {
		return ""
	}
	rest = strings.TrimPrefix(rest, "privatelink.")
	if zone, after, ok := strings.Cut(rest, "."); ok && len(zone) == 3 && zone[0] == 'z' && isDigits(zone[1:]) {
		rest = after // zNN.blob.storage.azure.net
	}
	if !strings.HasPrefix(rest, "blob.") {
		return ""
	}
	// Account names hold no '-': this suffix is Azure's, not the name's.
	return strings.TrimSuffix(label, "-secondary")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Insecure reports whether requests to e would carry tokens across a
// network in clear text: e is http, and its host is not loopback
// (127.0.0.0/8, ::1, localhost and the names under it, which RFC 6761
// keeps on loopback, as in Azurite's production-style
// account1.blob.localhost). Any other host may be Azure, or a network
// between: a name alone does not tell an emulator. (Tokens signed with
// DevAccountKey hold no secret, wherever they go: see
// SharedKey.IsDevelopmentKey.)
func (e BlobEndpoint) Insecure() bool {
	if e.Scheme != "http" {
		return false
	}
	host := e.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	ip := net.ParseIP(host)
	return !(ip != nil && ip.IsLoopback() || host == "localhost" || strings.HasSuffix(host, ".localhost"))
}

// HostPort returns host:port, with the scheme's default port when the
// endpoint gives none: the address to dial.
func (e BlobEndpoint) HostPort() string {
	host, port, err := net.SplitHostPort(e.Host)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(e.Host, "["), "]")
	}
	if port == "" { // none, or "host:" with an empty one
		port = "443"
		if e.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}

// Equal reports whether e and o address the same service: the same scheme,
// host and port (the default one written or not, the host in any case) and
// path.
func (e BlobEndpoint) Equal(o BlobEndpoint) bool {
	return e.Scheme == o.Scheme && strings.EqualFold(e.HostPort(), o.HostPort()) && e.Path == o.Path
}

// BlobPath returns the decoded and the escaped URL path of a blob (or, with
// blob "", of a container): the endpoint's path, then /container/blob. Each
// segment of the blob name is escaped on its own, so '/' stays a separator
// and '#', '?', '%' and ' ' reach Azure as part of the name.
func (e BlobEndpoint) BlobPath(container, blob string) (path, rawPath string) {
	base, rawBase := e.Path, e.EscapedPath()
	if blob == "" {
		return base + "/" + container, rawBase + "/" + container
	}
	var raw strings.Builder
	raw.Grow(len(rawBase) + len(container) + len(blob)*3/2 + 2)
	raw.WriteString(rawBase)
	raw.WriteByte('/')
	raw.WriteString(container)
	raw.WriteByte('/')
	for i, seg := range strings.Split(blob, "/") {
		if i > 0 {
			raw.WriteByte('/')
		}
		raw.WriteString(url.PathEscape(seg))
	}
	return base + "/" + container + "/" + blob, raw.String()
}

// URL returns the URL of a blob (or, with blob "", of a container) with
// token as its query. The result holds the token: it is a credential.
func (e BlobEndpoint) URL(container, blob string, token Token) string {
	_, rawPath := e.BlobPath(container, blob)
	u := e.Scheme + "://" + e.Host + rawPath
	if q := token.Encode(); q != "" {
		u += "?" + q
	}
	return u
}
