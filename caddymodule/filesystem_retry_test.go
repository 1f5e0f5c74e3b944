package caddymodule

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// TestFilesystemRetriesOnceAfter403: a read Azure refuses is asked once
// more with a fresh token, as the transport does; refused twice, it is
// fs.ErrPermission (file_server's 403), and Azure's error document goes
// nowhere.
func TestFilesystemRetriesOnceAfter403(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  int // how many requests are refused first
		wantErr error
	}{
		{"healed by a fresh token", 1, nil},
		{"refused again", 2, fs.ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			azure := azurestub.New(t)
			azure.Put("www", "a.txt", []byte("alpha"), nil)
			refused := 0
			azure.Hook(func(w http.ResponseWriter, r *http.Request) bool {
				if refused < tc.refuse {
					refused++
					azurestub.WriteError(w, http.StatusForbidden, "AuthenticationFailed")
					return true
				}
				return false
			})
			f := &Filesystem{ReadOrigin: ReadOrigin{Origin: Origin{Endpoint: azure.Endpoint, Container: "www", AccountKey: sas.DevAccountKey}}}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			t.Cleanup(cancel)
			require.NoError(t, f.Provision(ctx), "Provision")
			t.Cleanup(func() { assert.NoError(t, f.Cleanup()) })

			info, err := f.Stat("a.txt")
			if tc.wantErr != nil {
				assert.True(t, errors.Is(err, tc.wantErr), "Stat: %v", err)
			} else if assert.NoError(t, err, "Stat") {
				assert.Equal(t, int64(5), info.Size(), "the size")
			}
			requests := azure.Requests()
			require.Len(t, requests, 2, "requests Azure got: want exactly 2")
			for _, r := range requests {
				assert.Equal(t, http.MethodHead, r.Method)
				assert.Equal(t, "r", r.Query.Get("sp"), "a read token")
				assert.Equal(t, "b", r.Query.Get("sr"), "a token for the blob")
			}
		})
	}
}
