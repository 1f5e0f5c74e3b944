package cluster_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/cluster"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// The TTL testdata/cluster/Caddyfile signs into every image token
// (cache_control "public, max-age=3"), and the one azure_blob gives a 404.
const (
	imageTTL    = 3 * time.Second
	notFoundTTL = 10 * time.Second
)

// deployment is what the tests run: Azurite with two keys, three nodes
// signing with the first, a stand-in for a busy Azure behind /busy/, a
// redirect route the VCL does not pipe (/unlisted/), azure_sas behind
// basic_auth (/sas), and Varnish in front.
type deployment struct {
	az       *azurite.Server
	busy     *azurestub.Server
	nodes    []*cluster.Node
	shield   *cluster.Shield
	keys     [3]string // key1 and key2 at Azurite; key3 replaces key1 when it is regenerated
	password string    // alice's, for /sas
}

func startDeployment(t *testing.T) *deployment {
	d := &deployment{}
	for i := range d.keys {
		d.keys[i] = newKey(t)
	}
	d.az = azurite.Start(t, azurite.Accounts(azurite.Account{Name: sas.DevAccountName, Keys: d.keys[:2]}))
	d.az.CreateContainer(t, "photos", false)
	d.busy = azurestub.New(t)
	d.busy.Hook(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Retry-After", "30")
		azurestub.WriteError(w, http.StatusServiceUnavailable, "ServerBusy")
		return true
	})
	d.password = base64.RawURLEncoding.EncodeToString(randomBytes(t, 12))
	hash, err := caddyauth.BcryptHash{}.Hash([]byte(d.password))
	require.NoError(t, err)
	routes := filepath.Join(t.TempDir(), "routes.caddy")
	require.NoError(t, os.WriteFile(routes, fmt.Appendf(nil, `handle_path /busy/* {
	azure_blob {
		endpoint %s
		container photos
		account_key {file.{$NODE_DATA}/account_key}
	}
}
handle_path /unlisted/* {
	azure_blob {
		endpoint {$AZURE_BLOB_ENDPOINT}
		container photos
		account_key {file.{$NODE_DATA}/account_key}
		redirect
	}
}
route /sas {
	basic_auth {
		alice %s
	}
	azure_sas {
		endpoint {$AZURE_BLOB_ENDPOINT}
		container photos
		account_key {file.{$NODE_DATA}/account_key}
		prefix users/{http.auth.user.id}/
	}
}
`, d.busy.Endpoint, hash), 0o644))
	bin := cluster.CaddyBinary(t)
	for i := range cluster.VCLPorts {
		d.nodes = append(d.nodes, cluster.StartNode(t, bin, fmt.Sprintf("node%d", i+1), d.az.Endpoint, d.keys[0], "NODE_ROUTES="+routes))
	}
	d.shield = cluster.StartShield(t, d.nodes)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range d.nodes {
				t.Logf("%s printed:\n%s", n.Name, n.Output())
			}
		}
	})
	return d
}

// TestShieldInFrontOfThreeNodes runs the deployment docs/deploying.md
// describes and checks, through Varnish, what a shield or CDN in front of
// azure_blob relies on. The subtests share the deployment and run in order.
func TestShieldInFrontOfThreeNodes(t *testing.T) {
	d := startDeployment(t)
	t.Run("hits never reach Azure", d.hitsNeverReachAzure)
	t.Run("spellings of a path share its object", d.spellings)
	t.Run("a stale object is revalidated, a changed one served whole", d.revalidation)
	t.Run("errors are kept as long as they say", d.errors)
	t.Run("a 1 GiB blob streams with bounded memory", d.hugeBlob)
	t.Run("rolling key rotation under load", d.rollingRotation)
	t.Run("a node dies under load", d.nodeDies)
	t.Run("redirects are piped: neither kept nor logged", d.redirectsPiped)
	t.Run("a redirect the VCL does not pipe is not kept", d.unpipedRedirect)
	t.Run("the issuance log names the client, not Varnish", d.issuanceLogNamesClient)
	t.Run("nothing secret in what Varnish saw", d.nothingSecret) // last: it searches the whole run
}

// get asks the shield for path with header, and reads the whole answer.
func (d *deployment) get(t *testing.T, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.shield.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// getAsWritten asks the shield for path (and query) exactly as written:
// Go's client refuses some spellings (a % that starts no escape).
func (d *deployment) getAsWritten(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	host := strings.TrimPrefix(d.shield.URL, "http://")
	conn, err := net.Dial("tcp", host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// azureGets are the statuses Azurite answered the GETs for a blob of
// photos with, from its access log, once the log has settled: Azurite
// writes a request's line after its answer, so a line may come late.
func (d *deployment) azureGets(blob string) []string {
	last := d.loggedGets(blob)
	for settled := 0; settled < 3; {
		time.Sleep(100 * time.Millisecond)
		now := d.loggedGets(blob)
		if slices.Equal(now, last) {
			settled++
		} else {
			settled = 0
		}
		last = now
	}
	return last
}

// loggedGets are the statuses of the GETs for blob that Azurite's access
// log shows so far.
func (d *deployment) loggedGets(blob string) []string {
	var statuses []string
	needle := `"GET /` + sas.DevAccountName + "/photos/" + blob + "?"
	for line := range strings.SplitSeq(d.az.Output(1<<20), "\n") {
		if _, after, ok := strings.Cut(line, needle); ok {
			if _, rest, ok := strings.Cut(after, `" `); ok {
				statuses = append(statuses, strings.Fields(rest)[0])
			}
		}
	}
	return statuses
}
