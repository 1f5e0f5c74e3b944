package caddymodule

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSniffTypeTellsFilesByTheirBytes: the demo's real media are told by
// their bytes; an SVG is told however it starts (a BOM, a declaration, a
// doctype, comments); HTML stays HTML whatever it is named; a document
// that only mentions svg is not one.
func TestSniffTypeTellsFilesByTheirBytes(t *testing.T) {
	for file, want := range map[string]string{
		"../testdata/media/images/sunset.jpg":   "image/jpeg",
		"../testdata/media/images/pattern.png":  "image/png",
		"../testdata/media/images/pattern.webp": "image/webp",
		"../testdata/media/video/clip.mp4":      "video/mp4",
		"../testdata/media/video/clip.webm":     "video/webm",
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, want, sniffType(data[:min(len(data), 512)]), "%s", file)
	}
	for text, want := range map[string]string{
		`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`:                                      "image/svg+xml",
		"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- drawn by hand -->\n<!DOCTYPE svg>\n<svg viewBox=\"0 0 1 1\"></svg>": "image/svg+xml",
		"<!-- a comment --><SVG>":                  "image/svg+xml",
		"<!doctype html><script>alert(1)</script>": "text/html",
		"<html><body><svg></svg></body></html>":    "text/html",
		"<svgx>not an svg</svgx>":                  "text/plain",
		"just some text about <svg>":               "text/plain",
		"PK\x03\x04 a zip":                         "application/zip",
		"%PDF-1.7":                                 "application/pdf",
	} {
		assert.Equal(t, want, sniffType([]byte(text)), "%q", text)
	}
}
