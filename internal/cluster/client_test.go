package cluster_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
)

// issuanceLogNamesClient: a URL issued through the shield is logged with
// the client's address, the one Varnish appends to X-Forwarded-For, and
// not Varnish's own (127.0.0.1) nor one the client wrote there itself.
// The client connects from 127.0.0.2.
func (d *deployment) issuanceLogNamesClient(t *testing.T) {
	const spoofed = "203.0.113.9"
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, d.shield.URL+"/sas",
		strings.NewReader(`{"blob": "behind-the-shield.txt", "permissions": "r"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", spoofed)
	req.SetBasicAuth("alice", d.password)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "azure_sas through the shield")

	var clientIP string
	require.Eventually(t, func() bool {
		clientIP = d.issuedTo("users/alice/behind-the-shield.txt")
		return clientIP != ""
	}, 10*time.Second, 50*time.Millisecond, "no node logged the URL it issued")
	assert.Equal(t, "127.0.0.2", clientIP, "the client's address, not Varnish's (127.0.0.1) nor the one it wrote in X-Forwarded-For (%s)", spoofed)
	figures.Report(t, "a URL issued through Varnish to a client on 127.0.0.2 that sent X-Forwarded-For: %s was logged with client_ip %s", spoofed, clientIP)
}

// issuedTo is the client_ip of the node's log line for the URL issued for
// blob, or "" while no node has logged one.
func (d *deployment) issuedTo(blob string) string {
	for _, n := range d.nodes {
		for line := range strings.SplitSeq(n.Output(), "\n") {
			var entry struct {
				Msg      string `json:"msg"`
				Blob     string `json:"blob"`
				ClientIP string `json:"client_ip"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "issued a SAS URL" && entry.Blob == blob {
				return entry.ClientIP
			}
		}
	}
	return ""
}
