package azurite_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
)

// This package is under testdata, so ./... skips it; run it with
// go test ./testdata/azurite/.

func testKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 64)) }

// readWith signs a read token for blob with key and fetches it.
func readWith(t *testing.T, srv *azurite.Server, key, container, blob string) (*http.Response, []byte) {
	t.Helper()
	k, err := sas.NewSharedKey(srv.Account, key)
	if err != nil {
		t.Fatal(err)
	}
	v := sas.ServiceValues{Permissions: sas.PermRead, Expiry: time.Now().Add(time.Hour), Container: container, Blob: blob}
	q, err := v.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return azurite.Fetch(t, http.MethodGet, srv.BlobURL(container, blob)+"?"+q.Encode(), nil)
}

// TestRestartRotatesKeys: custom accounts, either key accepted, and a
// restart that keeps the data, the port and the endpoint while replacing
// the keys.
func TestRestartRotatesKeys(t *testing.T) {
	key1, key2, key3 := testKey(1), testKey(2), testKey(3)
	srv := azurite.Start(t, azurite.Accounts(azurite.Account{Name: "rotating", Keys: []string{key1, key2}}))
	if srv.Account != "rotating" || srv.Key != key1 {
		t.Fatalf("Account, Key = %q, %q; want the first custom account", srv.Account, srv.Key)
	}
	data := []byte("survives restarts\n")
	srv.CreateContainer(t, "media", false)
	srv.Upload(t, "media", "a/b c.txt", data, "text/plain")
	for _, key := range []string{key1, key2} {
		if resp, body := readWith(t, srv, key, "media", "a/b c.txt"); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("before restart: status %d, body %q", resp.StatusCode, body)
		}
	}

	port, endpoint := srv.Port, srv.Endpoint
	srv.Restart(t, azurite.Accounts(azurite.Account{Name: "rotating", Keys: []string{key3}}))
	if !srv.Running() || srv.Port != port || srv.Endpoint != endpoint || srv.Key != key3 {
		t.Fatalf("after restart: running %v, port %d, endpoint %s; want %d, %s, the new key", srv.Running(), srv.Port, srv.Endpoint, port, endpoint)
	}
	if resp, body := readWith(t, srv, key1, "media", "a/b c.txt"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("retired key: status %d, body %q; want 403", resp.StatusCode, body)
	}
	if resp, body := readWith(t, srv, key3, "media", "a/b c.txt"); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("new key: status %d, body %q; want 200 and the blob", resp.StatusCode, body)
	}
	srv.Upload(t, "media", "after.txt", data, "") // the seeding client follows the new key

	srv.Stop()
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	srv.Stop() // a no-op
}
