package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of testdata/caddyfile_adapt/*.caddyfiletest")

// TestCaddyfileAdapt adapts each testdata/caddyfile_adapt/*.caddyfiletest:
// a Caddyfile, a line of dashes, then the expected JSON, or a part of the
// expected error.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt fixtures: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(data), "----------\n")
			if !ok {
				t.Fatal("no ---------- line")
			}
			want = strings.TrimSpace(want)
			got, warnings, err := adapter.Adapt([]byte(input), nil)
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if strings.HasPrefix(filepath.Base(file), "error_") {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "sig=") {
					t.Errorf("error quotes a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(file, []byte(input+"----------\n"+pretty.String()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if pretty.String() != want {
				t.Errorf("adapted JSON differs; run go test -run CaddyfileAdapt -update and review the diff\n got: %s", pretty.String())
			}
		})
	}
}
