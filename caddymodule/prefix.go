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

// prefixPerRequest reports whether prefix holds placeholders, and so
// differs from one request (one user) to the next.
func prefixPerRequest(prefix string) bool {
	return strings.Contains(prefix, "{")
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
