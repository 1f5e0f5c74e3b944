package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestIssuerHTTPSOnlyAgainstAzurite: with an https endpoint, the URLs
// azure_sas issues, the redirects azure_blob sends and the tokens its
// transport reads with are signed for https only (spr=https), and Azurite
// over HTTPS accepts them; the same token sent over plain http is refused.
// With an http endpoint (Azurite on loopback) nothing restricts the
// protocol, and the URL reads over http.
func TestIssuerHTTPSOnlyAgainstAzurite(t *testing.T) {
	secure := azurite.Start(t, azurite.OAuth())
	plain := azurite.Start(t)
	require.Equal(t, secure.Key, plain.Key, "both Azurites hold the development account")
	require.True(t, strings.HasPrefix(secure.Endpoint, "https://"), "the OAuth Azurite serves HTTPS")
	require.True(t, strings.HasPrefix(plain.Endpoint, "http://"), "the plain Azurite serves http")
	data := bytes.Repeat([]byte("HTTPS ONLY "), 100)
	for _, az := range []*azurite.Server{secure, plain} {
		az.CreateContainer(t, "uploads", false)
		az.Upload(t, "uploads", "cat.txt", data, "text/plain")
	}
	t.Setenv("AZ_TEST_KEY", secure.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_sas /sas-https {
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		tls_trust_pool file %[2]s
	}
	azure_sas /sas-http {
		endpoint %[3]s
		container uploads
		account_key {env.AZ_TEST_KEY}
	}
	azure_blob /proxied/* {
		strip_prefix /proxied
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		tls_trust_pool file %[2]s
	}
	azure_blob /redirected/* {
		strip_prefix /redirected
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		tls_trust_pool file %[2]s
		redirect
	}
}`, secure.Endpoint, secure.CertFile, plain.Endpoint))

	// read gets location from Azurite with client, returning the status,
	// Azurite's error code and the body.
	read := func(client *http.Client, location string) (int, string, []byte) {
		t.Helper()
		resp, err := client.Get(location)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("x-ms-error-code"), body
	}

	// An issued URL on the https endpoint is for https only, and reads.
	status, link := askURL(t, http.MethodGet, "/sas-https?blob=cat.txt", "", "")
	require.Equal(t, http.StatusOK, status, "a read link on the https endpoint: %s", link.Error)
	u, err := url.Parse(link.URL)
	require.NoError(t, err)
	assert.Equal(t, "https", u.Scheme, "the issued URL")
	assert.Equal(t, "https", u.Query().Get("spr"), "spr of the URL issued for the https endpoint")
	code, reason, body := read(secure.HTTPClient(), link.URL)
	assert.Equal(t, http.StatusOK, code, "Azurite over HTTPS read the issued URL: %s", reason)
	assert.True(t, bytes.Equal(data, body), "the issued URL's bytes")
	// The same token, sent in clear to an Azurite that holds the same
	// account, key and blob, is refused: spr is signed, and enforced.
	plainURL, err := url.Parse(plain.Endpoint)
	require.NoError(t, err)
	overHTTP := *u
	overHTTP.Scheme, overHTTP.Host = plainURL.Scheme, plainURL.Host
	clearCode, clearReason, _ := read(http.DefaultClient, overHTTP.String())
	assert.Equal(t, http.StatusForbidden, clearCode, "the https-only token over plain http")
	assert.Equal(t, "AuthorizationProtocolMismatch", clearReason, "the https-only token over plain http")

	// A redirect on the https endpoint carries an https-only token, which
	// Azurite over HTTPS takes.
	resp, location := askRedirect(t, http.MethodGet, "/redirected/cat.txt")
	if assert.Equal(t, http.StatusFound, resp.StatusCode, "GET /redirected/cat.txt") {
		r, err := url.Parse(location)
		require.NoError(t, err)
		assert.Equal(t, "https", r.Query().Get("spr"), "spr of the redirect's token")
		code, reason, body = read(secure.HTTPClient(), location)
		assert.Equal(t, http.StatusOK, code, "Azurite over HTTPS read the redirect: %s", reason)
		assert.True(t, bytes.Equal(data, body), "the redirect's bytes")
	}

	// A read through Caddy, with the transport's own token.
	resp, body = fetch(t, tester, http.MethodGet, "/proxied/cat.txt")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a proxied read from Azurite over HTTPS")
	assert.True(t, bytes.Equal(data, body), "the proxied read's bytes")

	// On the http endpoint, the URL is not restricted, and reads over http.
	status, link = askURL(t, http.MethodGet, "/sas-http?blob=cat.txt", "", "")
	require.Equal(t, http.StatusOK, status, "a read link on the http endpoint: %s", link.Error)
	u, err = url.Parse(link.URL)
	require.NoError(t, err)
	assert.Equal(t, "http", u.Scheme, "the issued URL")
	assert.NotContains(t, u.Query(), "spr", "a URL issued for the http endpoint")
	code, reason, body = read(http.DefaultClient, link.URL)
	assert.Equal(t, http.StatusOK, code, "Azurite over http read the issued URL: %s", reason)
	assert.True(t, bytes.Equal(data, body), "the http URL's bytes")

	// Each read of the HTTPS Azurite (the issued URL, the redirect, the
	// proxied read) carried spr=https, as its access log shows once it
	// has stopped and all it printed is in. (The signature stays out of
	// this test's messages.)
	secure.Stop()
	var all, httpsOnly int
	for line := range strings.Lines(secure.Output(1000)) {
		if strings.Contains(line, "GET /"+secure.Account+"/uploads/cat.txt?") {
			all++
			if strings.Contains(line, "spr=https") {
				httpsOnly++
			}
		}
	}
	assert.Equal(t, 3, all, "reads of cat.txt in the HTTPS Azurite's access log")
	assert.Equal(t, all, httpsOnly, "reads of cat.txt in the HTTPS Azurite's access log with spr=https")
	figure(t, "spr=https: %d of %d signed reads on Azurite over HTTPS (issued URL, redirect, proxied) carried it and were answered; the issued token over plain http: %d %s; the http endpoint's URL: no spr, read over http: %d",
		httpsOnly, all, clearCode, clearReason, code)
}
