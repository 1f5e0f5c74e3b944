package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

const (
	identityTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	identityObjectID = "0b1d7f6e-aaaa-bbbb-cccc-111122223333"
)

// identityStandIn stands in for the managed-identity endpoint of App
// Service and Azure Functions, which azidentity uses when
// IDENTITY_ENDPOINT and IDENTITY_HEADER are set: it checks the secret
// header and the resource, and answers with an access token for Blob
// Storage in the shape Microsoft documents. It counts the requests it
// answers and every connection made to it, answered or not. While
// refusing, it answers as Azure does for an identity not (yet) assigned
// to the machine: 400 "Identity not found".
type identityStandIn struct {
	calls    atomic.Int64
	conns    atomic.Int64
	refusing atomic.Bool
}

func newIdentityStandIn(t *testing.T, tenant string) *identityStandIn {
	s := new(identityStandIn)
	const secret = "identity-header-secret-for-tests"
	addSecret("the identity header", secret)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if s.refusing.Load() || r.Header.Get("X-IDENTITY-HEADER") != secret || r.URL.Query().Get("resource") != "https://storage.azure.com" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request","error_description":"Identity not found"}`)
			return
		}
		expiry := time.Now().Add(time.Hour)
		token := azurite.BearerToken(tenant, identityObjectID, time.Now().Add(-time.Minute), expiry)
		addSecret("an Entra ID access token", token[len(token)-40:])
		_ = json.NewEncoder(w).Encode(map[string]string{
			"access_token": token, "expires_on": strconv.FormatInt(expiry.Unix(), 10),
			"resource": "https://storage.azure.com", "token_type": "Bearer", "client_id": identityObjectID,
		})
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Setenv("IDENTITY_ENDPOINT", srv.URL)
	t.Setenv("IDENTITY_HEADER", secret)
	return s
}

// assertDelegatedRead checks that location carries a read-only
// user-delegation token that Azurite (over HTTPS) accepts for data.
func assertDelegatedRead(t *testing.T, az *azurite.Server, location string, data []byte, what string) {
	t.Helper()
	u, err := url.Parse(location)
	require.NoError(t, err, what)
	tok, err := sas.Parse(u.RawQuery)
	require.NoError(t, err, "%s: its token", what)
	assert.Equal(t, sas.KindUserDelegation, tok.Kind, "%s: its token", what)
	assert.Equal(t, "r", tok.PermissionString(), "%s: its token", what)
	got, err := az.HTTPClient().Get(location)
	require.NoError(t, err, "%s: following it", what)
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, got.StatusCode, "%s: Azurite's answer", what)
	assert.True(t, bytes.Equal(body, data), "%s: %d bytes, not the %d uploaded", what, len(body), len(data))
}

// TestIdentityAgainstAzurite signs with a managed identity instead of an
// account key: Caddy gets an Entra ID token from a managed-identity
// endpoint, a user delegation key from Azurite (OAuth, over HTTPS), and
// reads a private blob with user-delegation tokens in both scopes.
func TestIdentityAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := bytes.Repeat([]byte("KEYLESS"), 1000)
	az.Upload(t, "photos", "cat.jpg", data, "image/jpeg")
	calls := &newIdentityStandIn(t, identityTenant).calls
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	tester := startCaddy(t, caddyGlobalsWith(testLog(logFile, "\tgrace_period 1ns\n"))+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /b/* {
		strip_prefix /b
		endpoint %[1]s
		container photos
		identity managed
		tls_trust_pool file %[2]s
	}
	azure_blob /c/* {
		strip_prefix /c
		endpoint %[1]s
		container photos
		identity managed
		scope container
		tls_trust_pool file %[2]s
	}
	azure_blob /r/* {
		strip_prefix /r
		endpoint %[1]s
		container photos
		identity managed
		tls_trust_pool file %[2]s
		redirect
	}
	azure_sas /sas {
		endpoint %[1]s
		container photos
		identity managed
		tls_trust_pool file %[2]s
	}
}`, az.Endpoint, az.CertFile))

	for _, path := range []string{"/b/cat.jpg", "/c/cat.jpg", "/b/cat.jpg"} {
		resp, body := fetch(t, tester, http.MethodGet, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
		// Not assert.Equal: a diff of 7000 bytes says less than this.
		assert.True(t, bytes.Equal(body, data), "GET %s: %d bytes, not the %d uploaded", path, len(body), len(data))
	}
	resp, _ := fetch(t, tester, http.MethodGet, "/b/missing.jpg")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "missing blob")
	// A redirect carries a read-only user-delegation token that Azurite
	// takes: no account key anywhere.
	resp, location := askRedirect(t, http.MethodGet, "/r/cat.jpg")
	if assert.Equal(t, http.StatusFound, resp.StatusCode, "GET /r/cat.jpg") {
		assertDelegatedRead(t, az, location, data, "the redirect")
	}
	// azure_sas issues user-delegation read links with the same key.
	status, link := askURL(t, http.MethodGet, "/sas?blob=cat.jpg", "", "")
	if assert.Equal(t, http.StatusOK, status, "azure_sas with identity: %+v", link) {
		assertDelegatedRead(t, az, link.URL, data, "the issued URL")
	}
	// One keyring serves both routes: one token, one key. (MSAL keeps
	// managed-identity tokens process-wide, so a test before this one may
	// have left it one.)
	assert.LessOrEqual(t, calls.Load(), int64(1), "times the managed-identity endpoint was asked")
	assert.Equal(t, 1, strings.Count(az.Output(1000), "comp=userdelegationkey"), "user delegation keys Azurite was asked for, want one for both routes")
	logs, err := os.ReadFile(logFile)
	require.NoError(t, err, "Caddy's log")
	assert.NotContains(t, string(logs), `"level":"error"`, "errors in the log:\n%s", lastLogLines(logs, 5))
	v, ok := metricValue(scrapeMetrics(t), "caddy_azure_blob_delegation_key_failures_total", `account="devstoreaccount1",container="photos"`)
	assert.True(t, ok, "delegation_key_failures_total not found")
	assert.Zero(t, v, "delegation_key_failures_total")

	// An identity Entra ID refuses still loads (provisioning asks for no
	// key: TestIdentityValidatesOfflineAndRetries), and reads answer 503.
	t.Setenv("IDENTITY_HEADER", "wrong")
	err = loadConfig(caddyGlobals + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob {
		endpoint %s
		container photos
		identity managed 11111111-2222-3333-4444-555555555555
		tls_trust_pool file %s
	}
}`, az.Endpoint, az.CertFile))
	require.NoError(t, err, "loading a refused identity's config")
	resp, _ = fetch(t, tester, http.MethodGet, "/cat.jpg")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a read with a refused identity")
	figure(t, "managed identity: Entra ID token asked %d time(s); user-delegation reads from Azurite over HTTPS in blob and container scope", calls.Load())
}

// TestIdentityKindsAgainstAzurite reads through Azurite with the Azure CLI
// (an `az` on PATH that prints a token as `az account get-access-token`
// does) and with Azure's default chain (which finds the managed-identity
// endpoint), and shows a reload keeps the key it holds.
func TestIdentityKindsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := []byte("VIA AZ CLI AND THE DEFAULT CHAIN")
	az.Upload(t, "photos", "a.txt", data, "text/plain")
	managedCalls := &newIdentityStandIn(t, identityTenant).calls

	bin := t.TempDir()
	token := azurite.BearerToken(identityTenant, identityObjectID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	addSecret("the Azure CLI's token", token[len(token)-40:])
	cliCalls := filepath.Join(t.TempDir(), "az-calls")
	script := fmt.Sprintf("#!/bin/sh\necho called >> %s\ncase \"$*\" in\n*get-access-token*) printf '{\"accessToken\":\"%s\",\"expires_on\":%d,\"tokenType\":\"Bearer\"}\\n' ;;\n*) exit 1 ;;\nesac\n",
		cliCalls, token, time.Now().Add(time.Hour).Unix())
	require.NoError(t, os.WriteFile(filepath.Join(bin, "az"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, unset := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"} {
		t.Setenv(unset, "")
		os.Unsetenv(unset)
	}

	config := func(extra string) string {
		return caddyGlobals + fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /cli/* {
		strip_prefix /cli
		endpoint %[1]s
		container photos
		identity azure_cli
		tls_trust_pool file %[2]s
	}
	azure_blob /default/* {
		strip_prefix /default
		endpoint %[1]s
		container photos
		identity default
		tls_trust_pool file %[2]s
	}
	%[3]s
}`, az.Endpoint, az.CertFile, extra)
	}
	tester := startCaddy(t, config(""))
	check := func() {
		t.Helper()
		for _, path := range []string{"/cli/a.txt", "/default/a.txt"} {
			resp, body := fetch(t, tester, http.MethodGet, path)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
			assert.Equal(t, string(data), string(body), "GET %s", path)
		}
	}
	check()
	// az ran for the azure_cli route only: the default chain used the
	// managed identity (whose token MSAL may already hold from another test
	// in this process, hence at most one call).
	calls, err := os.ReadFile(cliCalls)
	require.NoError(t, err, "az never ran")
	assert.Equal(t, 1, bytes.Count(calls, []byte("called")), "times az ran")
	assert.LessOrEqual(t, managedCalls.Load(), int64(1), "times the managed-identity endpoint was asked")
	before := managedCalls.Load()
	// A reload keeps the keys: no new sign-in, no new key.
	require.NoError(t, loadConfig(config("respond /health 200")), "reload")
	check()
	calls, err = os.ReadFile(cliCalls)
	require.NoError(t, err)
	signIns := bytes.Count(calls, []byte("called")) - 1 + int(managedCalls.Load()-before)
	assert.Equal(t, 1, bytes.Count(calls, []byte("called")), "times az ran after a reload, want no new sign-in")
	assert.Equal(t, before, managedCalls.Load(), "times the managed-identity endpoint was asked after a reload, want no new sign-in")
	keys := strings.Count(az.Output(1000), "comp=userdelegationkey")
	assert.Equal(t, 2, keys, "user delegation keys Azurite was asked for across the reload, want one per identity")
	figure(t, "azure_cli and default identities read from Azurite; a reload signed in again %d times, and %d user delegation keys were asked for across it", signIns, keys)
}

// entraAuthority stands in for Microsoft Entra ID at a custom authority
// host (as a sovereign or private cloud has), over HTTPS with the test
// certificate: the OpenID configuration of a tenant, and a token endpoint
// for the client credentials grant, which checks the client's secret, or
// that it sent an assertion (a certificate's, or workload identity's
// federated token, which must be the token file's).
func entraAuthority(t *testing.T, az *azurite.Server, secret, federatedToken string) (url string, grants *atomic.Int64) {
	grants = new(atomic.Int64)
	var base string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":         base + "/" + tenant + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/" + tenant + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/" + tenant + "/v2.0",
		})
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
			!slices.Contains(strings.Fields(r.PostForm.Get("scope")), "https://storage.azure.com/.default") {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		assertion := r.PostForm.Get("client_assertion")
		switch r.PostForm.Get("client_id") {
		case "app-secret":
			if r.PostForm.Get("client_secret") != secret {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
		case "app-cert":
			if strings.Count(assertion, ".") != 2 {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
		case "app-workload":
			if assertion != federatedToken {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
		default:
			http.Error(w, `{"error":"unauthorized_client"}`, http.StatusUnauthorized)
			return
		}
		grants.Add(1)
		token := azurite.BearerToken(r.PathValue("tenant"), identityObjectID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
		addSecret("an app's access token", token[len(token)-40:])
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600})
	})
	srv := httptest.NewUnstartedServer(mux)
	cert, err := tls.LoadX509KeyPair(az.CertFile, az.KeyFile)
	require.NoError(t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base = srv.URL
	return srv.URL, grants
}

// TestIdentityAppRegistrationsAgainstAzurite signs in as an app
// registration with a secret, with a certificate, and with workload
// identity's federated token, at a custom authority host, and reads a
// private blob from Azurite with each.
func TestIdentityAppRegistrationsAgainstAzurite(t *testing.T) {
	az := azurite.Start(t, azurite.OAuth())
	az.CreateContainer(t, "photos", false)
	data := []byte("APP REGISTRATIONS")
	az.Upload(t, "photos", "a.txt", data, "text/plain")
	secret := "app-client-secret-value-for-tests-0123456789"
	addSecret("the app's client secret", secret)
	federated := "federated-token-from-the-kubelet-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(federated), 0o600))
	appCert := appCertificate(t)
	authority, grants := entraAuthority(t, az, secret, federated)
	t.Setenv("AZ_APP_SECRET", secret)

	var routes strings.Builder
	for _, r := range []struct{ path, identity string }{
		{"secret", "client_secret " + identityTenant + " app-secret {env.AZ_APP_SECRET}"},
		{"cert", "client_certificate " + identityTenant + " app-cert " + appCert},
		{"workload", "workload app-workload " + identityTenant + " " + tokenFile},
	} {
		fmt.Fprintf(&routes, `
	azure_blob /%[1]s/* {
		strip_prefix /%[1]s
		endpoint %[2]s
		container photos
		identity %[3]s {
			authority_host %[4]s
		}
		tls_trust_pool file %[5]s
	}`, r.path, az.Endpoint, r.identity, authority, az.CertFile)
	}
	tester := startCaddy(t, caddyGlobals+testSite+" {"+routes.String()+"\n}")
	for _, path := range []string{"/secret/a.txt", "/cert/a.txt", "/workload/a.txt"} {
		resp, body := fetch(t, tester, http.MethodGet, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
		assert.Equal(t, string(data), string(body), "GET %s", path)
	}
	assert.Equal(t, int64(3), grants.Load(), "tokens granted, want one per app")
	figure(t, "client_secret, client_certificate and workload identities signed in at a custom authority (%d grants) and read from Azurite", grants.Load())
}

// appCertificate writes an app registration's certificate and RSA key (what
// Entra ID takes for client assertions) as one PEM file.
func appCertificate(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "caddy app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	file := filepath.Join(t.TempDir(), "app.pem")
	require.NoError(t, os.WriteFile(file, out, 0o600))
	return file
}
