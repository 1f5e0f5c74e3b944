// Package figures reports what a test measured, so that a passing run
// still shows it: each figure is logged and, when TEST_FIGURES names a
// file (as ./xcaddy.sh test does), appended there.
package figures

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// Env names the file figures are appended to.
const Env = "TEST_FIGURES"

// Report logs a figure of t and appends it, prefixed with the test's
// name, to the file Env names. A figure that cannot be written fails t.
// A test that has failed reports none: its figure would claim what the
// failed assertion did not show.
func Report(t testing.TB, format string, args ...any) {
	t.Helper()
	if t.Failed() {
		t.Log("no figure: the test failed")
		return
	}
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if err := Append(t.Name() + ": " + line); err != nil {
		t.Errorf("writing the figure to %s: %v", Env, err)
	}
}

// Append appends line to the file Env names, if any.
func Append(line string) error {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, line)
	return errors.Join(err, f.Close())
}
