package azurite_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func testKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 64)) }

// readWith signs a read token for blob with key and fetches it.
func readWith(t *testing.T, srv *azurite.Server, key, container, blob string) (*http.Response, []byte) {
	t.Helper()
	k, err := sas.NewSharedKey(srv.Account, key)
	require.NoError(t, err)
	v := sas.ServiceValues{Permissions: sas.PermRead, Expiry: time.Now().Add(time.Hour), Container: container, Blob: blob}
	q, err := v.Sign(k)
	require.NoError(t, err)
	return azurite.Fetch(t, http.MethodGet, srv.BlobURL(container, blob)+"?"+q.Encode(), nil)
}

// TestRestartRotatesKeys: custom accounts, either key accepted, and a
// restart that keeps the data, the port and the endpoint while replacing
// the keys.
func TestRestartRotatesKeys(t *testing.T) {
	key1, key2, key3 := testKey(1), testKey(2), testKey(3)
	srv := azurite.Start(t, azurite.Accounts(azurite.Account{Name: "rotating", Keys: []string{key1, key2}}))
	// The first custom account.
	require.Equal(t, "rotating", srv.Account, "Account")
	require.Equal(t, key1, srv.Key, "Key")
	data := []byte("survives restarts\n")
	srv.CreateContainer(t, "media", false)
	srv.Upload(t, "media", "a/b c.txt", data, "text/plain")
	for _, key := range []string{key1, key2} {
		resp, body := readWith(t, srv, key, "media", "a/b c.txt")
		require.Equal(t, http.StatusOK, resp.StatusCode, "before restart: body %q", body)
		require.Equal(t, data, body, "before restart")
	}

	port, endpoint := srv.Port, srv.Endpoint
	srv.Restart(t, azurite.Accounts(azurite.Account{Name: "rotating", Keys: []string{key3}}))
	require.True(t, srv.Running(), "after restart: not running")
	require.Equal(t, port, srv.Port, "after restart: port")
	require.Equal(t, endpoint, srv.Endpoint, "after restart: endpoint")
	require.Equal(t, key3, srv.Key, "after restart: want the new key")
	resp, body := readWith(t, srv, key1, "media", "a/b c.txt")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "retired key: body %q", body)
	resp, body = readWith(t, srv, key3, "media", "a/b c.txt")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "new key: body %q", body)
	assert.Equal(t, data, body, "new key: want the blob")
	srv.Upload(t, "media", "after.txt", data, "") // the seeding client follows the new key
	// The seeded blob is there, under the new key.
	resp, body = readWith(t, srv, key3, "media", "after.txt")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "after.txt: body %q", body)
	assert.Equal(t, data, body, "after.txt")

	srv.Stop()
	assert.False(t, srv.Running(), "running after Stop")
	srv.Stop() // a no-op
	assert.False(t, srv.Running(), "running after a second Stop")
}

// TestWatchSignatures: a watcher learns the signature of each token
// Azurite was sent, at a restart and when the test ends.
func TestWatchSignatures(t *testing.T) {
	var mu sync.Mutex
	told := map[string]int{}
	azurite.WatchSignatures(func(sig string) {
		mu.Lock()
		defer mu.Unlock()
		told[sig]++
	})
	told1 := func(sig string) int {
		mu.Lock()
		defer mu.Unlock()
		return told[sig]
	}
	// read signs a token for blob, sends it, and returns its signature.
	read := func(t *testing.T, srv *azurite.Server, blob string) string {
		k, err := sas.NewSharedKey(srv.Account, srv.Key)
		require.NoError(t, err)
		q, err := (&sas.ServiceValues{Permissions: sas.PermRead, Expiry: time.Now().Add(time.Hour), Container: "watched", Blob: blob}).Sign(k)
		require.NoError(t, err)
		resp, _ := azurite.Fetch(t, http.MethodGet, srv.BlobURL("watched", blob)+"?"+q.Encode(), nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "a token Azurite took, for a blob it has not")
		v, err := url.ParseQuery(q.Encode())
		require.NoError(t, err)
		return v.Get("sig")
	}
	var before, after string
	t.Run("a server", func(t *testing.T) {
		srv := azurite.Start(t)
		srv.CreateContainer(t, "watched", false)
		before = read(t, srv, "before")
		srv.Restart(t)
		assert.Equal(t, 1, told1(before), "after the restart: the signature sent before it")
		after = read(t, srv, "after")
	})
	assert.Equal(t, 1, told1(before), "at the end: the signature sent before the restart, once")
	assert.Equal(t, 1, told1(after), "at the end: the signature sent after the restart")
}
