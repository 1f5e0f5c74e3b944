package caddymodule_test

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// figure logs a measured figure and, when TEST_FIGURES names a file (as
// ./xcaddy.sh test does), appends it there, so a passing run still shows
// what it measured.
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	assert.NoError(t, reportFigure(t.Name()+": "+line), "writing the figure to TEST_FIGURES")
}

// reportFigure appends line to the file TEST_FIGURES names, if any.
func reportFigure(line string) error {
	path := os.Getenv("TEST_FIGURES")
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
