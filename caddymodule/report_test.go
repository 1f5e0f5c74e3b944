package caddymodule_test

import (
	"fmt"
	"os"
	"testing"
)

// figure logs a measured figure and, when TEST_FIGURES names a file (as
// ./xcaddy.sh test does), appends it there, so a passing run still shows
// what it measured.
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	reportFigure(t.Name() + ": " + line)
}

func reportFigure(line string) {
	path := os.Getenv("TEST_FIGURES")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "TEST_FIGURES: %v\n", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}
