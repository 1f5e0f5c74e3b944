package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// A blob-name prefix may be built per request from placeholders, such as
// users/{http.auth.user.id}/, so that each user reaches their own blobs
// only: azure_sas issues URLs under it, azure_blob reads under it.

// checkPrefixTemplate requires every placeholder of prefix to be a whole
// segment followed by '/' (users/{http.auth.user.id}/): otherwise the
// values of two users could run into each other, bob asking for by/x
// under "users/{id}" reaching bobby's users/bobby/x. What is literal must
// make a valid blob name.
func checkPrefixTemplate(prefix string) error {
	segments := strings.Split(prefix, "/")
	for i, seg := range segments {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		whole := strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && strings.Count(seg, "{") == 1 && strings.Count(seg, "}") == 1
		if !whole || i == len(segments)-1 {
			return errors.New("prefix: a placeholder must be a whole segment followed by '/', as in users/{http.auth.user.id}/")
		}
		if strings.HasPrefix(seg, "{env.") || strings.HasPrefix(seg, "{file.") {
			// Resolved per request, the value would be in every blob name,
			// and so in logs: it may be a secret in the wrong field.
			return errors.New("prefix: {env.*} and {file.*} are not taken in a prefix; write a value from the environment as {$VAR}")
		}
		if err := checkPrefixPlaceholder(seg[1 : len(seg)-1]); err != nil {
			return err
		}
	}
	if prefix != "" {
		if err := checkURLSafeBlobName(caddy.NewEmptyReplacer().ReplaceAll(prefix, "x") + "x"); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
	}
	if prefixPerRequest(prefix) && strings.Contains(prefix, "./") {
		return errors.New("prefix: a segment of a prefix with placeholders may not end in '.'")
	}
	return nil
}

// A prefix keeps each user to their own blobs only if its placeholders
// name the user as Caddy knows them, never as the client says: a client
// that can choose the value can choose another user's prefix.
//
// Taken: {http.auth.user.*}, which Caddy's authentication sets (basic_auth,
// or a plugin such as caddy-security); {http.vars.*}, which the site's
// own config sets (vars, map; making one from request data is the config's
// choice), but for those Caddy itself fills from the request; the client
// certificate's fingerprint and public key, which the TLS handshake binds
// to a key the client holds whatever client_auth's mode; and placeholders
// outside http.*, such as {time.now.year} or {system.hostname}, which the
// client does not choose.
//
// Refused: the rest of {http.request.*} (URI, path, query, headers,
// cookies, host and its labels, method, body, orig_*, the TLS server name
// …), which the client writes; the client's address ({remote_host},
// {client_ip}), which clients behind one NAT or proxy share and which
// passes to others: not an identity; the certificate's other fields
// (subject, SANs, issuer …), which the client chooses unless client_auth
// verifies the chain, which a prefix cannot tell; the vars Caddy fills
// from the request (tracing's trace_id and span_id from traceparent, this
// plugin's azure_blob.*); {http.regexp.*} and
// {http.matchers.*}, what matchers found in the request; and the other
// http.* placeholders (reverse_proxy, response, errors …), which belong to
// the answer, not to who asks.

// boundToClientKey are the client certificate's placeholders that name the
// key the client proved it holds.
var boundToClientKey = map[string]bool{
	"http.request.tls.client.fingerprint":       true,
	"http.request.tls.client.public_key":        true,
	"http.request.tls.client.public_key_sha256": true,
}

// varsFromRequest are the vars Caddy itself fills from the request.
var varsFromRequest = map[string]bool{
	"http.vars.client_ip": true, // the client's address
	"http.vars.trace_id":  true, // tracing, from traceparent
	"http.vars.span_id":   true,
}

// checkPrefixPlaceholder refuses the placeholder key (without braces) in a
// prefix unless it names who the client is as Caddy has checked it. The
// Caddyfile has already expanded its shorthands ({query.user} is
// {http.request.uri.query.user} here).
func checkPrefixPlaceholder(key string) error {
	k := strings.ToLower(key)
	var why string
	switch {
	case !strings.HasPrefix(k, "http."),
		strings.HasPrefix(k, "http.auth.user."),
		boundToClientKey[k],
		strings.HasPrefix(k, "http.vars.") && !varsFromRequest[k] && !strings.HasPrefix(k, "http.vars.azure_blob."):
		return nil
	case strings.HasPrefix(k, "http.request.tls.client."):
		why = "is a field of the client's certificate, which the client chooses unless client_auth verifies it, which a prefix cannot tell; " +
			"use {http.request.tls.client.fingerprint}, or copy the field into a var where your config verifies the certificate"
	case k == "http.vars.client_ip", k == "http.request.remote", strings.HasPrefix(k, "http.request.remote."):
		why = "is the client's address, which clients behind one NAT or proxy share and which changes hands: " +
			"it is no identity, and they could reach each other's blobs"
	case strings.HasPrefix(k, "http.vars."):
		why = "is filled by Caddy from the request, which the client writes, so any client could reach another's blobs"
	case strings.HasPrefix(k, "http.request."):
		why = "comes from the request, which the client writes, so any client could reach another's blobs"
	case strings.HasPrefix(k, "http.regexp."), strings.HasPrefix(k, "http.matchers."):
		why = "is what a matcher found in the request, which the client writes, so any client could reach another's blobs"
	default:
		why = "does not say who the client is"
	}
	return fmt.Errorf("prefix: {%s} %s; use an identity Caddy has checked, such as {http.auth.user.id}, "+
		"or {http.vars.*} set by your own config", key, why)
}

// prefixPerRequest reports whether prefix holds placeholders, and so
// differs from one request (one user) to the next.
func prefixPerRequest(prefix string) bool {
	return hasPlaceholder(prefix)
}

// errPrefixUnresolved: a prefix's placeholder is unknown, empty, or holds
// what would reach another prefix. Safe to show a client.
var errPrefixUnresolved = errors.New("the blob name prefix cannot be worked out for this request: is it authenticated?")

// resolvePrefix replaces the placeholders of prefix, a template that
// checkPrefixTemplate accepted, for r. One that is unknown or resolves
// empty, or to something with a '/' or a dot segment (which would reach
// another user's prefix), is errPrefixUnresolved: no request lands
// outside the prefix the configuration meant. So is a value that ends in
// a dot: Azure's naming rules say no segment should, and a service that
// trims it would read bob./x as bob/x.
func resolvePrefix(r *http.Request, prefix string) (string, error) {
	if !prefixPerRequest(prefix) {
		return prefix, nil
	}
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return "", errPrefixUnresolved
	}
	// checkPrefixTemplate made each placeholder a whole segment, with no
	// '/' inside: a value that adds one would reach another prefix.
	resolved, err := repl.ReplaceOrErr(prefix, true, true)
	if err != nil || strings.Count(resolved, "/") != strings.Count(prefix, "/") || checkURLSafeBlobName(resolved+"x") != nil ||
		strings.Contains(resolved, "./") {
		return "", errPrefixUnresolved
	}
	return resolved, nil
}
