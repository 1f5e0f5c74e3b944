package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of testdata/caddyfile_adapt/*.caddyfiletest")

// fixtureSecrets finds the literal credentials a fixture's Caddyfile holds:
// the value of every sig= and of every account_key that is not a
// placeholder. An adapt error must quote none of them, not even their
// first 8 characters (a decoded or cut value starts the same).
var fixtureSecrets = regexp.MustCompile(`(?:sig=|account_key\s+)([^\s&"{][^\s&"]{7,})`)

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest:
// a Caddyfile, a line of dashes, then the expected JSON, or a part of the
// expected error.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no adapt fixtures")
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			input, want, ok := strings.Cut(string(data), "----------\n")
			require.True(t, ok, "no ---------- line")
			want = strings.TrimSpace(want)
			got, warnings, err := adapter.Adapt([]byte(input), nil)
			assert.Empty(t, warnings, "warnings")
			if strings.HasPrefix(filepath.Base(file), "error_") {
				require.ErrorContains(t, err, want)
				assert.NotContains(t, err.Error(), "TOPSECRET", "error quotes a secret")
				assert.NotContains(t, err.Error(), "sig=", "error quotes a secret")
				for _, m := range fixtureSecrets.FindAllStringSubmatch(input, -1) {
					assert.NotContains(t, err.Error(), m[1][:8], "error quotes a secret")
				}
				return
			}
			require.NoError(t, err, "adapt")
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, got, "", "\t"))
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(input+"----------\n"+pretty.String()+"\n"), 0o644))
				return
			}
			assert.Equal(t, want, pretty.String(), "adapted JSON differs; run go test -run CaddyfileAdapt -update and review the diff")
		})
	}
}
