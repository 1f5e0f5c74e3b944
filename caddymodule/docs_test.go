package caddymodule_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
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
	assert.GreaterOrEqual(t, blocks, 24, "caddyfile blocks found in README.md and docs/")
}

// TestDeployingDocsSystemdUnitRunsItsCaddyfile reads docs/deploying.md's
// systemd unit, its environment file and its Caddyfile, and checks that
// they fit together as systemd would run them: the unit reads the
// environment file and runs caddy with a config, the file is readable by
// root alone, it sets every {env.*} the Caddyfile reads, and with those
// set the Caddyfile validates as `caddy validate` would. systemd cannot
// run here; this is what it would be handed.
func TestDeployingDocsSystemdUnitRunsItsCaddyfile(t *testing.T) {
	text, err := os.ReadFile("../docs/deploying.md")
	require.NoError(t, err)
	page := string(text)

	units := regexp.MustCompile("(?s)```ini\n(.*?)```").FindAllStringSubmatch(page, -1)
	require.Len(t, units, 1, "docs/deploying.md shows one systemd unit, in an ini block")
	unit := units[0][1]
	envFile := regexp.MustCompile(`(?m)^EnvironmentFile=(\S+)$`).FindStringSubmatch(unit)
	require.NotNil(t, envFile, "the unit reads an EnvironmentFile:\n%s", unit)
	execStart := regexp.MustCompile(`(?m)^ExecStart=(\S*caddy run .*--config \S+.*)$`).FindStringSubmatch(unit)
	assert.NotNil(t, execStart, "the unit runs caddy run --config …:\n%s", unit)
	assert.Regexp(t, `(?m)^User=caddy$`, unit, "Caddy runs as its own user, not root")
	assert.Contains(t, page, "chmod 600 "+envFile[1], "the page makes the environment file readable by its owner alone")

	env := map[string]bool{}
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(page, -1) {
		assignments := map[string]bool{}
		for line := range strings.Lines(block[1]) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, _, ok := strings.Cut(line, "=")
			if !ok || !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(name) {
				assignments = nil
				break
			}
			assignments[name] = true
		}
		if len(assignments) > 0 {
			require.Empty(t, env, "docs/deploying.md shows one environment file")
			env = assignments
		}
	}
	require.NotEmpty(t, env, "docs/deploying.md shows the environment file, a sh block of NAME=value lines")

	caddyfiles := caddyfileBlock.FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, caddyfiles)
	caddyfile := caddyfiles[0][1]
	used := regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(caddyfile, -1)
	require.NotEmpty(t, used, "the unit's Caddyfile reads its secrets with {env.*}:\n%s", caddyfile)
	for _, m := range used {
		assert.True(t, env[m[1]], "the environment file sets %s, which the Caddyfile reads", m[1])
	}
	assert.NotContains(t, caddyfile, "{$", "secrets read with {env.*}, never copied into the config with {$…}")

	for name := range env {
		t.Setenv(name, sas.DevAccountKey) // a well-formed key stands in for the secret the page leaves out
	}
	assert.NoError(t, loadError(t, caddyfile), "the unit's Caddyfile, with its environment file set:\n%s", caddyfile)
}

// markdownLink is a link of a Markdown page: its target, up to a title.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsLinksResolve follows every relative link of README.md and docs/:
// the file or folder it names exists in the repository, and the heading
// its #anchor names is on that page, as GitHub spells anchors.
func TestDocsLinksResolve(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	pages = append(pages, "../README.md")
	links := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		require.NoError(t, err)
		for _, m := range markdownLink.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			info, err := os.Stat(path)
			if !assert.NoError(t, err, "%s links to %s", page, target) || anchor == "" {
				continue
			}
			require.False(t, info.IsDir(), "%s links to %s: an anchor in a folder", page, target)
			linked, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Contains(t, headingAnchors(string(linked)), anchor, "%s links to %s: no such heading", page, target)
		}
	}
	assert.Greater(t, links, 50, "relative links found in README.md and docs/")
}

// headingAnchors lists the anchors GitHub gives a page's headings: lower
// case, punctuation but '-' and '_' dropped, spaces as '-', a repeated one
// numbered. Fenced code is skipped (a '#' comment there is no heading).
func headingAnchors(page string) []string {
	var anchors []string
	seen := map[string]int{}
	fenced := false
	for line := range strings.Lines(page) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			anchors = append(anchors, fmt.Sprintf("%s-%d", anchor, n))
		} else {
			anchors = append(anchors, anchor)
		}
		seen[anchor]++
	}
	return anchors
}
