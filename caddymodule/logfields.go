package caddymodule

import (
	"time"

	"go.uber.org/zap"
)

// logTime is a log field for a moment, in RFC 3339 and UTC. Unless a log
// sets time_format, Caddy's JSON encoder writes a zap.Time as Unix
// seconds, which nobody reads at a glance.
func logTime(key string, t time.Time) zap.Field {
	return zap.String(key, t.UTC().Format(time.RFC3339))
}
