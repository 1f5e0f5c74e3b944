package sas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleKey = "jkjRQqRC7Cp3dQhbBegWUOPTfSbDhpSRXslbIHi7XWaPoVEbKOACGhQO7ENqs4r+6wobqZXOEAznojEsWnbGJQ=="

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		name, cs, account, endpoint string
		key, sas                    bool
	}{
		{"portal form", "DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=" + exampleKey + ";EndpointSuffix=core.windows.net",
			"mystorage", "https://mystorage.blob.core.windows.net", true, false},
		{"defaults", "AccountName=mystorage;AccountKey=" + exampleKey, "mystorage", "https://mystorage.blob.core.windows.net", true, false},
		{"sovereign cloud, http, spaces and case", " accountname = mystorage ; AccountKey=" + exampleKey + "; endpointsuffix=core.chinacloudapi.cn;DefaultEndpointsProtocol=http;",
			"mystorage", "http://mystorage.blob.core.chinacloudapi.cn", true, false},
		{"blob endpoint with SAS", "BlobEndpoint=https://mystorage.blob.core.windows.net/;SharedAccessSignature=sv=2025-11-05&sr=c&sp=rl&se=2030-01-01&sig=" + testSigEscaped,
			"mystorage", "https://mystorage.blob.core.windows.net", false, true},
		{"Azurite by hand", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + DevAccountKey + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;",
			"devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1", true, false},
		{"development storage", "UseDevelopmentStorage=true", DevAccountName, DevBlobEndpoint, true, false},
		{"development storage proxy", "UseDevelopmentStorage=True;DevelopmentStorageProxyUri=http://azurite.local", DevAccountName, "http://azurite.local:10000/devstoreaccount1", true, false},
		{"development storage IPv6 proxy", "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]", DevAccountName, "http://[::1]:10000/devstoreaccount1", true, false},
		{"endpoint only", "BlobEndpoint=https://cdn.example.com", "", "https://cdn.example.com", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConnectionString(tt.cs)
			require.NoError(t, err)
			assert.Equal(t, tt.account, c.AccountName, "account")
			assert.Equal(t, tt.endpoint, c.BlobEndpoint.String(), "blob endpoint")
			assert.Equal(t, tt.key, c.Key != nil, "has a shared key")
			assert.Equal(t, tt.sas, c.SAS != nil, "has a SAS")
			if c.Key != nil {
				assert.Equal(t, tt.account, c.Key.Account(), "the key's account")
			}
		})
	}
}

func TestParseConnectionStringErrorsNameThePartNeverTheKey(t *testing.T) {
	tests := []struct{ cs, want string }{
		{"", "connection string is empty"},
		{" ; ;", "connection string is empty"},
		{"AccountKey=" + exampleKey, "neither AccountName nor BlobEndpoint"},
		{"AccountName=mystorage;AccountKey=" + exampleKey[:20] + "!!", "AccountKey: account key is not valid base64"},
		{"AccountName=mystorage;AccountKey=", "AccountKey is empty"},
		{"AccountName=My_Storage;AccountKey=" + exampleKey, "AccountName: account name may hold only lowercase letters and digits"},
		{"AccountName=mystorage;AccountName=other;AccountKey=" + exampleKey, "has AccountName twice"},
		{"AccountName=mystorage;Acountkey=" + exampleKey, `setting "Acountkey" is not one Azure defines`},
		{"AccountName=mystorage;" + exampleKey, "part 2 is not Name=Value"},
		{"AccountName=mystorage;AccountKey=" + exampleKey + ";SharedAccessSignature=sv=x", "both AccountKey and SharedAccessSignature"},
		{"BlobEndpoint=https://mystorage.blob.core.windows.net;AccountKey=" + exampleKey, "AccountKey but no AccountName"},
		{"BlobEndpoint=ftp://x;AccountName=mystorage", "BlobEndpoint is not an http(s) URL"},
		{"BlobEndpoint=https://x/?sv=1;AccountName=mystorage", "must not carry a query"},
		{"AccountName=mystorage;DefaultEndpointsProtocol=gopher", "DefaultEndpointsProtocol is not https or http"},
		{"UseDevelopmentStorage=false", "UseDevelopmentStorage must be true"},
		{"UseDevelopmentStorage=true;AccountKey=" + exampleKey, "cannot be combined with AccountKey"},
		{"BlobEndpoint=https://mystorage.blob.core.windows.net;SharedAccessSignature=sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSig, "SharedAccessSignature: SAS token signature"},
		// A value too long for an account name may be a key in the wrong
		// place: its length is given, never the value.
		{"AccountName=" + exampleKey + ";AccountKey=" + exampleKey, "connection string AccountName: account name is 88 characters; Azure allows 3 to 24"},
	}
	for _, tt := range tests {
		c, err := ParseConnectionString(tt.cs)
		if !assert.ErrorContains(t, err, tt.want, "ParseConnectionString(%.50q)", tt.cs) {
			continue
		}
		assert.Nil(t, c, "ParseConnectionString(%.50q) returned a result with its error", tt.cs)
		for _, secret := range []string{exampleKey[:10], testSig[:16], testSigEscaped[:16]} {
			assert.NotContains(t, err.Error(), secret, "ParseConnectionString(%.50q): the error quotes a secret", tt.cs)
		}
	}
}
