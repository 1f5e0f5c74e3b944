// Package needs is what a test does when a peer it needs (Azurite,
// Chromium, Varnish, curl) is not installed: it skips with the reason,
// unless the environment variable CI is set (to anything), when it fails,
// so CI never passes by skipping. ./xcaddy.sh test installs them all.
//
// The package is internal to this module, for tests only.
package needs

import (
	"os"
	"testing"
)

// EnvCI, when non-empty, turns a missing peer from a skip into a failure.
const EnvCI = "CI"

// Missing ends t for want of a peer: a failure when CI is set, else a
// skip, with msg as the reason.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvCI) != "" {
		t.Fatal(msg + " (" + EnvCI + " is set, so this is a failure, not a skip)")
	}
	t.Skip(msg)
}
