package caddymodule

import (
	"strings"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// A secret written in the Caddyfile as it is, or as {$VAR} (which the
// Caddyfile's lexer expands before any directive sees it, so the two look
// alike), is copied into the adapted JSON: autosave.json and the admin
// API's GET /config/ then show it. It is accepted, with a warning when the
// Caddyfile is adapted and another when the config is provisioned.

// isLiteralSecret reports whether value, given for a secret option, holds
// a secret itself rather than a placeholder that is resolved when the
// config loads. Azurite's well-known development key is public.
func isLiteralSecret(value string) bool {
	public := strings.EqualFold(strings.TrimSpace(value), "UseDevelopmentStorage=true") || value == sas.DevAccountKey
	return value != "" && !hasPlaceholder(value) && !public
}

// warnLiteralSecretAtAdapt warns, while the Caddyfile is adapted, that
// option (at file:line) is written without a placeholder. It never
// quotes the value.
//
// Caddy's adapter collects directives' warnings in a field of
// httpcaddyfile.Helper that no method adds to, and a transport's
// UnmarshalCaddyfile, inside the user's reverse_proxy, gets no Helper at
// all. So the warning is logged as `caddy adapt` logs the adapter's own,
// with the same logger name and file and line fields; caddy run and
// caddy validate show it among their start-up lines. (The admin API's
// /adapt and /load answer with the adapter's warnings: this one goes to
// the server's log instead.)
func warnLiteralSecretAtAdapt(option, file string, line int) {
	caddy.Log().Named("caddyfile").Warn(option+" is written literally, or as {$VAR}, which the Caddyfile expands when it is adapted: "+
		"the value is then in the adapted JSON, in autosave.json and in the admin API's GET /config/; "+
		"write it as {env.VAR} or {file.path}, read when the config loads",
		zap.String("file", file), zap.Int("line", line))
}
