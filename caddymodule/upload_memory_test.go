// Memory is measured without the race detector, which multiplies it: see
// memory_test.go.

//go:build !race

package caddymodule_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestHeapStaysBoundedUploading1GiB: a 1 GiB upload through azure_upload
// reaches Azurite whole (SHA-256 of what was sent and of what Azurite
// holds), while the peak RSS of the process that runs Caddy grows by a few
// blocks, not by the file.
func TestHeapStaysBoundedUploading1GiB(t *testing.T) {
	const size = 1 << 30
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_upload /upload/* {
		strip_prefix /upload
		endpoint %s
		container uploads
		account_key {env.AZ_TEST_KEY}
		max_size 1GiB
		types video/mp4
	}
}`, az.Endpoint))

	// An MP4's first bytes, then a pattern: made as it is sent, never held.
	head := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte{0}, 8)...)
	sent := sha256.New()
	body := io.TeeReader(io.MultiReader(bytes.NewReader(head), io.LimitReader(&patternReader{}, size-int64(len(head)))), sent)
	// What earlier tests of the process freed goes back to the system
	// first: else the upload could grow into it, unseen.
	debug.FreeOSMemory()
	before := procStatusKB(t, "VmRSS")
	require.NoError(t, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0), "resetting the peak RSS")
	req, err := http.NewRequest(http.MethodPut, testSite+"/upload/big.mp4", body)
	require.NoError(t, err)
	req.ContentLength = size
	client := *tester.Client
	client.Timeout = 5 * time.Minute
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err, "the upload")
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "the upload: %s", answer)
	peak := procStatusKB(t, "VmHWM")

	held := sha256.New()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	download, err := az.Client().DownloadStream(ctx, "uploads", "big.mp4", nil)
	require.NoError(t, err)
	n, err := io.Copy(held, download.Body)
	download.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(size), n, "the bytes Azurite holds")
	assert.Equal(t, sent.Sum(nil), held.Sum(nil), "SHA-256 of what was sent and of what Azurite holds")
	growth := float64(peak-before) * 1024
	// 9.2 to 10.1 MB measured: the upload's 4 MiB block and the runtime
	// around it; 32 MB is three times that, far below the file.
	assert.Less(t, growth, 32*mb, "peak RSS growth while 1 GiB was uploaded")
	figure(t, "azure_upload took 1 GiB into Azurite in %s (%.0f MB/s), SHA-256 equal; the peak RSS of the process running Caddy grew %.1f MB",
		took.Round(time.Second), float64(size)/mb/took.Seconds(), growth/mb)
}

// procStatusKB reads a kB field of /proc/self/status.
func procStatusKB(t *testing.T, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err, "%s", line)
			return kb
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}
