package sas

import (
	"net/url"
	"strings"
)

// RedactQuery returns a raw query string with the value of every sig
// parameter replaced by REDACTED, leaving the rest as written. Use it before
// a query or URL goes near a log line or an error message.
func RedactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	for i, part := range parts {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err != nil || strings.EqualFold(n, "sig") || strings.EqualFold(name, "sig") {
			parts[i] = name + "=" + Redacted
		}
	}
	return strings.Join(parts, "&")
}

// redactURL returns u as a string with its sig redacted, e.g. for an error
// that quotes the request URL.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.RawQuery = RedactQuery(u.RawQuery)
	c.ForceQuery = false
	c.Fragment, c.RawFragment = "", "" // a mangled token can spill its sig there
	if c.User != nil {
		c.User = url.User(Redacted)
	}
	return c.String()
}
