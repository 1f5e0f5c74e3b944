package caddymodule

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
)

// TestTransportHandsBackTheClientsRequest: the response reverse_proxy gets
// carries the client's request, not the signed clone: a handle_response
// route, or any module that reads resp.Request, finds no token there.
func TestTransportHandsBackTheClientsRequest(t *testing.T) {
	azure := azurestub.Scripted(t, http.StatusOK, http.StatusNotFound, http.StatusForbidden, http.StatusForbidden)
	tr := devTransport(azure.URL)
	provisionTransport(t, tr)
	for _, target := range []string{
		"http://x/photos/a.jpg",       // 200
		"http://x/photos/missing.jpg", // 404
		"http://x/photos/denied.jpg",  // 403, signed again, 403
		"http://x/other/a.jpg",        // refused before Azure
	} {
		in := atUpstream(clientRequest(http.MethodGet, target), azure)
		resp, err := tr.RoundTrip(in)
		require.NoError(t, err, target)
		resp.Body.Close()
		assert.Same(t, in, resp.Request, "%s: the response's request is not the client's", target)
		assert.Empty(t, resp.Request.URL.RawQuery, "%s: the response's request carries a query", target)
	}
	got := azure.Requests()
	require.Len(t, got, 4, "requests Azure got")
	assert.NotEmpty(t, got[0].Query.Get("sig"), "what Azure got was signed")
}

// TestTransportSendsNosniffOnEveryResponse: a blob is data; a browser must
// never run an uploaded .html or .svg, or a file stored with a wrong type,
// as a page of the site because of what its bytes look like.
func TestTransportSendsNosniffOnEveryResponse(t *testing.T) {
	statuses := []int{http.StatusOK, http.StatusPartialContent, http.StatusNotModified, http.StatusNotFound,
		http.StatusPreconditionFailed, http.StatusRequestedRangeNotSatisfiable, http.StatusServiceUnavailable}
	azure := azurestub.Scripted(t, statuses...)
	tr := devTransport(azure.URL)
	tr.GuessContentType = true
	provisionTransport(t, tr)
	for _, status := range statuses {
		resp, err := tr.RoundTrip(atUpstream(clientRequest(http.MethodGet, "http://x/photos/page.html"), azure))
		require.NoError(t, err, "Azure %d", status)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "Azure %d", status)
	}
	for _, target := range []string{"http://x/other/a.jpg", "http://x/photos/a%00b"} {
		in := clientRequest(http.MethodGet, target)
		resp, err := tr.RoundTrip(atUpstream(in, azure))
		require.NoError(t, err, target)
		resp.Body.Close()
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "refused: %s", target)
	}
	post := clientRequest(http.MethodPost, "http://x/photos/a.jpg")
	resp, err := tr.RoundTrip(atUpstream(post, azure))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "405")
}
