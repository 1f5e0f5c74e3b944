package sas

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBlobEndpointNamesItsAccount: the account a host names
// (NAME.blob.SUFFIX), else the first segment of a path-style endpoint;
// HostAccount takes the host alone, so a CDN's path names no account.
func TestBlobEndpointNamesItsAccount(t *testing.T) {
	for endpoint, want := range map[string][2]string{ // Account, HostAccount
		"https://mystorage.blob.core.windows.net":             {"mystorage", "mystorage"},
		"https://mystorage.blob.core.windows.net/":            {"mystorage", "mystorage"},
		"https://mystorage.blob.core.windows.net:443":         {"mystorage", "mystorage"},
		"http://127.0.0.1:10000/devstoreaccount1":             {"devstoreaccount1", ""},
		"http://127.0.0.1:10000/devstoreaccount1/":            {"devstoreaccount1", ""},
		"https://cdn.example.com":                             {"", ""},
		"https://cdn.example.com/media":                       {"media", ""},
		"https://mystorage.dfs.core.windows.net":              {"", ""},
		"https://mystorage.blob.core.usgovcloudapi.net":       {"mystorage", "mystorage"},
		"https://myacct.blob.core.windows.net/sub":            {"myacct", "myacct"},
		"http://127.0.0.1:10000//devstoreaccount1":            {"devstoreaccount1", ""},
		"https://[::1]:10000/devstoreaccount1":                {"devstoreaccount1", ""},
		"https://mystorage-secondary.blob.core.windows.net":   {"mystorage", "mystorage"},
		"https://mystorage.privatelink.blob.core.windows.net": {"mystorage", "mystorage"},
		"https://mystorage.z12.blob.storage.azure.net":        {"mystorage", "mystorage"},
		"https://mystorage.zone.blob.storage.azure.net":       {"", ""},
		"https://mystorage.blobs.example.com":                 {"", ""},
	} {
		e, err := ParseBlobEndpoint(endpoint)
		require.NoError(t, err, endpoint)
		assert.Equal(t, want[0], e.Account(), "Account of %q", endpoint)
		assert.Equal(t, want[1], e.HostAccount(), "HostAccount of %q", endpoint)
	}
}

func TestParseBlobEndpointRefusesWhatIsNoEndpoint(t *testing.T) {
	for raw, want := range map[string]string{
		"ftp://x":                           "blob endpoint is not an http(s) URL with a host",
		"https://":                          "blob endpoint is not an http(s) URL with a host",
		"mystorage.blob.core.windows.net":   "blob endpoint is not an http(s) URL with a host",
		"https://x/?sv=2026&sig=" + testSig: "blob endpoint must not carry a query",
		"https://x/#frag":                   "blob endpoint must not carry a query",
		"https://user:pw@x/":                "blob endpoint must not carry a query",
	} {
		_, err := ParseBlobEndpoint(raw)
		if assert.Error(t, err, raw) {
			assert.Contains(t, err.Error(), want, raw)
			assert.NotContains(t, err.Error(), testSig[:16], "the error quotes the signature")
		}
	}
}

// TestBlobEndpointInsecure: plain http is insecure unless it stays on this
// machine or reaches Azurite's development account, whose key is public;
// a host's name alone never makes an emulator.
func TestBlobEndpointInsecure(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"https://mystorage.blob.core.windows.net":                 false,
		"https://10.0.0.5/myacct":                                 false,
		"http://mystorage.blob.core.windows.net":                  true,
		"http://mystorage.privatelink.blob.core.windows.net":      true,
		"http://cdn.example.com":                                  true,
		"http://10.0.0.5:10000/myacct":                            true,
		"http://azurite:10000/myacct":                             true, // Azurite with an account of one's own: a key to protect
		"http://devstoreaccount1.blob.core.windows.net":           true, // a real account of that name
		"http://mystorage.blob.core.windows.net/devstoreaccount1": true,
		"http://127.0.0.1:10000/myacct":                           false,
		"http://127.0.0.2:10000/myacct":                           false,
		"http://localhost:10000/myacct":                           false,
		"http://LOCALHOST/myacct":                                 false,
		"http://account1.blob.localhost:10000":                    false, // Azurite's production-style URL
		"http://localhost.example.com/myacct":                     true,
		"http://[::1]:10000/myacct":                               false,
		"http://azurite:10000/devstoreaccount1":                   true, // safe only with the public key: the caller knows it
		"http://10.0.0.5:10000/devstoreaccount1/":                 true,
	} {
		e, err := ParseBlobEndpoint(endpoint)
		require.NoError(t, err, endpoint)
		assert.Equal(t, want, e.Insecure(), "Insecure of %q", endpoint)
	}
	dev, err := ParseConnectionString("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite")
	require.NoError(t, err)
	assert.True(t, dev.BlobEndpoint.Insecure(), "UseDevelopmentStorage=true behind a proxy URI: across a network")
	assert.True(t, dev.Key.IsDevelopmentKey(), "UseDevelopmentStorage=true signs with the published key")
	plain, err := ParseConnectionString("DefaultEndpointsProtocol=http;AccountName=mystorage;AccountKey=" + DevAccountKey)
	require.NoError(t, err)
	assert.True(t, plain.BlobEndpoint.Insecure(), "DefaultEndpointsProtocol=http to Azure")
}

func TestBlobEndpointAddressesAndCompares(t *testing.T) {
	azure := DefaultBlobEndpoint("mystorage")
	assert.Equal(t, "https://mystorage.blob.core.windows.net", azure.String())
	assert.Equal(t, "mystorage.blob.core.windows.net:443", azure.HostPort())
	written, err := ParseBlobEndpoint("HTTPS://MyStorage.blob.core.windows.net:443/")
	require.NoError(t, err)
	assert.True(t, azure.Equal(written), "the default port, a trailing '/' and the host's case make no difference")
	assert.False(t, azure.Equal(BlobEndpoint{Scheme: "http", Host: azure.Host}), "another scheme is another endpoint")

	azurite, err := ParseBlobEndpoint(DevBlobEndpoint)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:10000", azurite.HostPort())
	assert.Equal(t, "[::1]:80", BlobEndpoint{Scheme: "http", Host: "[::1]"}.HostPort())
	emptyPort, err := ParseBlobEndpoint("https://mystorage.blob.core.windows.net:")
	require.NoError(t, err)
	assert.Equal(t, "mystorage.blob.core.windows.net:443", emptyPort.HostPort(), "an empty port is the default one")
	assert.True(t, azure.Equal(emptyPort))

	// A base path that needs escaping is written escaped, never raw.
	odd, err := ParseBlobEndpoint("http://127.0.0.1:10000/myacct/a%3Fb%20c")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:10000/myacct/a%3Fb%20c", odd.String())
	oddPath, oddRaw := odd.BlobPath("media", "x y.jpg")
	assert.Equal(t, "/myacct/a?b c/media/x y.jpg", oddPath)
	assert.Equal(t, "/myacct/a%3Fb%20c/media/x%20y.jpg", oddRaw)
	assert.Equal(t, "http://127.0.0.1:10000/myacct/a%3Fb%20c/media/x%20y.jpg", odd.URL("media", "x y.jpg", Token{}))
	path, raw := azurite.BlobPath("photos", "")
	assert.Equal(t, "/devstoreaccount1/photos", path, "a container's path")
	assert.Equal(t, path, raw)
	assert.Equal(t, "http://127.0.0.1:10000/devstoreaccount1/photos/a%20b/c%23d.jpg", azurite.URL("photos", "a b/c#d.jpg", Token{}),
		"a URL without a token has no '?'")
}

func TestLocateReconcilesAndRefusesTwoAccounts(t *testing.T) {
	cs, err := ParseConnectionString("AccountName=mystorage;AccountKey=" + DevAccountKey)
	require.NoError(t, err)
	twoAccounts, err := ParseConnectionString("AccountName=mystorage;AccountKey=" + DevAccountKey + ";BlobEndpoint=https://other.blob.core.windows.net")
	require.NoError(t, err)
	for _, tt := range []struct {
		name              string
		w                 Where
		account, endpoint string
		err               string
	}{
		{"account alone", Where{Account: "mystorage"}, "mystorage", "https://mystorage.blob.core.windows.net", ""},
		{"endpoint alone", Where{Endpoint: DevBlobEndpoint}, DevAccountName, DevBlobEndpoint, ""},
		{"custom domain", Where{Endpoint: "https://cdn.example.com"}, "", "https://cdn.example.com", ""},
		{"connection string", Where{ConnectionString: cs}, "mystorage", "https://mystorage.blob.core.windows.net", ""},
		{"all three agree", Where{Account: "mystorage", Endpoint: "https://mystorage.blob.core.windows.net/", ConnectionString: cs},
			"mystorage", "https://mystorage.blob.core.windows.net", ""},
		{"nothing", Where{}, "", "", "cannot tell where the storage account is: give account, endpoint or connection string"},
		{"a key as the account", Where{Account: DevAccountKey}, "", "", "account: account name is 88 characters"},
		{"account against connection string", Where{Account: "other", ConnectionString: cs}, "", "",
			`account "other" differs from the account "mystorage" of connection string`},
		{"endpoint against connection string", Where{Endpoint: DevBlobEndpoint, ConnectionString: cs}, "", "",
			"endpoint differs from the blob endpoint of connection string"},
		{"account against endpoint", Where{Account: "other", Endpoint: DevBlobEndpoint}, "", "",
			`account "other" differs from the account "devstoreaccount1" that endpoint names`},
		{"endpoint naming no valid account", Where{Endpoint: "https://My_Storage.blob.core.windows.net"}, "", "",
			"endpoint names no valid account"},
		{"a connection string naming two accounts", Where{ConnectionString: twoAccounts}, "", "",
			`connection string AccountName "mystorage" differs from the account "other" that connection string BlobEndpoint names`},
		{"endpoint with a token", Where{Endpoint: "https://x/?sig=" + testSig}, "", "",
			"endpoint must not carry a query"},
	} {
		loc, err := Locate(tt.w)
		if tt.err != "" {
			if assert.Error(t, err, tt.name) {
				assert.Contains(t, err.Error(), tt.err, tt.name)
				assert.NotContains(t, err.Error(), DevAccountKey[:16], "%s: the error quotes a key", tt.name)
				// The caller's names replace every setting the error names.
				var where *LocateError
				require.ErrorAs(t, err, &where, tt.name)
				renamed := where.Rename(func(s Setting) string { return "«" + s.String() + "»" })
				assert.Contains(t, renamed, "«", "%s: names no setting", tt.name)
				assert.Equal(t, err.Error(), strings.NewReplacer("«", "", "»", "").Replace(renamed), tt.name)
			}
			continue
		}
		if assert.NoError(t, err, tt.name) {
			assert.Equal(t, tt.account, loc.Account, tt.name)
			assert.Equal(t, tt.endpoint, loc.Endpoint.String(), tt.name)
		}
	}
}

func TestParseBlobURLSplitsAddressAndToken(t *testing.T) {
	u, err := ParseBlobURL("http://127.0.0.1:10000/devstoreaccount1/photos/a%20b/c.jpg?comp=tags&sp=r&se=2030-01-01&sr=b&sig=" + testSigEscaped + "&%2B%2F%3D=x")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:10000/devstoreaccount1/photos/a%20b/c.jpg", u.Address)
	assert.Equal(t, DevBlobEndpoint, u.Endpoint.String())
	assert.Equal(t, DevAccountName, u.Account)
	assert.True(t, u.PathStyle)
	assert.Equal(t, "photos", u.Container)
	assert.Equal(t, "a b/c.jpg", u.Blob)
	assert.Equal(t, "sp=r&se=2030-01-01&sr=b&sig="+testSigEscaped, u.Token.Encode())
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", u, u, u), testSigEscaped[:16], "a printed BlobURL shows the signature")
	assert.Equal(t, []string{"comp", ""}, u.OtherParams, "a name that does not read as one is not quoted")

	container, err := ParseBlobURL("https://mystorage.blob.core.windows.net/photos")
	require.NoError(t, err)
	assert.Equal(t, "mystorage", container.Account)
	assert.False(t, container.PathStyle)
	assert.Equal(t, "photos", container.Container)
	assert.Empty(t, container.Blob)
	assert.True(t, container.Token.IsZero())

	for _, bad := range []string{"https://x/c/b?sig=" + testSigEscaped + "#frag", "photos/cat.jpg", "ftp://x/c/b"} {
		_, err := ParseBlobURL(bad)
		if assert.Error(t, err, bad) {
			assert.NotContains(t, err.Error(), testSigEscaped[:16], "the error quotes the signature")
		}
	}
}

// TestIsDevelopmentKey: only Azurite's published account and key together
// hold no secret.
func TestIsDevelopmentKey(t *testing.T) {
	dev, err := NewSharedKey(DevAccountName, DevAccountKey)
	require.NoError(t, err)
	assert.True(t, dev.IsDevelopmentKey())
	otherAccount, err := NewSharedKey("mystorage", DevAccountKey)
	require.NoError(t, err)
	assert.False(t, otherAccount.IsDevelopmentKey(), "the published key for another account")
	otherKey, err := NewSharedKey(DevAccountName, base64.StdEncoding.EncodeToString(make([]byte, 64)))
	require.NoError(t, err)
	assert.False(t, otherKey.IsDevelopmentKey(), "devstoreaccount1 with a key of one's own")
}

// TestHostAccountIgnoresCase: DNS names know no case, so an endpoint in
// capitals names its account as in lower case.
func TestHostAccountIgnoresCase(t *testing.T) {
	e, err := ParseBlobEndpoint("http://MYSTORAGE.BLOB.CORE.WINDOWS.NET/devstoreaccount1")
	require.NoError(t, err)
	assert.Equal(t, "mystorage", e.HostAccount())
}
