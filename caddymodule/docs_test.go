package caddymodule_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// caddyfileBlock is a fenced caddyfile block of a Markdown page.
var caddyfileBlock = regexp.MustCompile("(?s)```caddyfile\n(.*?)```")

// siteOrGlobal matches the first line of a whole Caddyfile: a global
// options block, or a site address ({$VAR} included) before its '{'.
var siteOrGlobal = regexp.MustCompile(`^(\{\s*$|\S*[.:]\S*\s.*\{\s*$|\{\$\S+\}\s*\{\s*$)`)

// TestDocsCaddyfilesAdapt adapts every Caddyfile README.md and docs/ show,
// so that none of them rots: a whole one as it is, and a directive shown
// alone inside a site block. Hashes written as "…" adapt as text.
func TestDocsCaddyfilesAdapt(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	pages = append(pages, "../README.md")
	adapter := caddyconfig.GetAdapter("caddyfile")
	blocks := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		require.NoError(t, err)
		for i, m := range caddyfileBlock.FindAllStringSubmatch(string(text), -1) {
			blocks++
			caddyfile, first := m[1], ""
			for line := range strings.Lines(caddyfile) {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					first = line
					break
				}
			}
			if !siteOrGlobal.MatchString(first) {
				caddyfile = "example.com {\n" + caddyfile + "}\n"
			}
			_, _, err := adapter.Adapt([]byte(caddyfile), map[string]any{"filename": page})
			assert.NoError(t, err, "%s, caddyfile block %d:\n%s", page, i+1, m[1])
		}
	}
	assert.GreaterOrEqual(t, blocks, 14, "caddyfile blocks found in README.md and docs/")
}
