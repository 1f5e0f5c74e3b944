package sas

import (
	"strings"
	"testing"
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
		{"endpoint only", "BlobEndpoint=https://cdn.example.com", "", "https://cdn.example.com", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConnectionString(tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			if c.AccountName != tt.account || c.BlobEndpoint != tt.endpoint || (c.Key != nil) != tt.key || (c.SAS != nil) != tt.sas {
				t.Errorf("got account %q endpoint %q key %v sas %v", c.AccountName, c.BlobEndpoint, c.Key != nil, c.SAS != nil)
			}
			if c.Key != nil && c.Key.Account() != tt.account {
				t.Errorf("key for account %q", c.Key.Account())
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
		{"AccountName=My_Storage;AccountKey=" + exampleKey, "AccountName: account name \"My_Storage\" may hold only"},
		{"AccountName=mystorage;AccountName=other;AccountKey=" + exampleKey, "has AccountName twice"},
		{"AccountName=mystorage;Acountkey=" + exampleKey, `setting "Acountkey" is not one Azure defines`},
		{"AccountName=mystorage;" + exampleKey, "part 2 is not Name=Value"},
		{"AccountName=mystorage;AccountKey=" + exampleKey + ";SharedAccessSignature=sv=x", "both AccountKey and SharedAccessSignature"},
		{"BlobEndpoint=https://mystorage.blob.core.windows.net;AccountKey=" + exampleKey, "AccountKey but no AccountName"},
		{"BlobEndpoint=ftp://x;AccountName=mystorage", "BlobEndpoint does not give an http(s) URL"},
		{"BlobEndpoint=https://x/?sv=1;AccountName=mystorage", "must not carry a query"},
		{"AccountName=mystorage;DefaultEndpointsProtocol=gopher", `DefaultEndpointsProtocol "gopher"`},
		{"UseDevelopmentStorage=false", "UseDevelopmentStorage \"false\" must be true"},
		{"UseDevelopmentStorage=true;AccountKey=" + exampleKey, "cannot be combined with AccountKey"},
		{"BlobEndpoint=https://mystorage.blob.core.windows.net;SharedAccessSignature=sv=2025-11-05&sr=b&sp=r&se=2030-01-01&sig=" + testSig, "SharedAccessSignature: SAS token signature"},
	}
	for _, tt := range tests {
		_, err := ParseConnectionString(tt.cs)
		if err == nil {
			t.Errorf("accepted %.50q; want %q", tt.cs, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("ParseConnectionString(%.50q) = %q, want %q", tt.cs, msg, tt.want)
		}
		for _, secret := range []string{exampleKey[:16], testSig[:16], testSigEscaped[:16]} {
			if strings.Contains(msg, secret) {
				t.Errorf("error quotes a secret: %q", msg)
			}
		}
	}
}

func TestAccountFromEndpoint(t *testing.T) {
	for endpoint, want := range map[string]string{
		"https://mystorage.blob.core.windows.net":       "mystorage",
		"https://mystorage.blob.core.windows.net/":      "mystorage",
		"http://127.0.0.1:10000/devstoreaccount1":       "devstoreaccount1",
		"http://127.0.0.1:10000/devstoreaccount1/":      "devstoreaccount1",
		"https://cdn.example.com":                       "",
		"https://mystorage.dfs.core.windows.net":        "",
		"https://mystorage.blob.core.usgovcloudapi.net": "mystorage",
	} {
		if got := AccountFromEndpoint(endpoint); got != want {
			t.Errorf("AccountFromEndpoint(%q) = %q, want %q", endpoint, got, want)
		}
	}
}
