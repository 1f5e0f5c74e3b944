package sas_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// A read-only URL for one blob, valid until 2030, signed with an account
// key (here Azurite's development key, which is public).
func ExampleServiceValues_Sign() {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	if err != nil {
		log.Fatal(err)
	}
	v := sas.ServiceValues{
		Permissions: sas.PermRead,
		Container:   "photos",
		Blob:        "2024/cat on a mat.jpg",
		Expiry:      time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	token, err := v.Sign(key)
	if err != nil {
		log.Fatal(err)
	}
	endpoint, err := sas.ParseBlobEndpoint(sas.DevBlobEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(endpoint.URL(v.Container, v.Blob, token))
	fmt.Println(token) // a token prints redacted: Encode returns it
	// Output:
	// http://127.0.0.1:10000/devstoreaccount1/photos/2024/cat%20on%20a%20mat.jpg?sv=2026-06-06&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&sig=yQ9T3X6B26ErGZZjAVRnLQCy0Wl5NIzUqz9suL9a9Vg%3D
	// REDACTED
}

// A Signer hands out cached read tokens for the blobs of one container and
// signs a fresh one once less than RenewBefore is left.
func ExampleSigner() {
	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	signer, err := sas.NewSigner(key,
		sas.ServiceValues{Permissions: sas.PermRead, Container: "photos"},
		sas.SignerOptions{TTL: time.Hour, RenewBefore: 15 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	first, _ := signer.Token("photos", "cat.jpg")
	again, _ := signer.Token("photos", "cat.jpg")
	fmt.Println("expires:", first.Expiry().Format(time.RFC3339))
	fmt.Println("cached:", first.Encode() == again.Encode())

	now = now.Add(50 * time.Minute) // within RenewBefore of the expiry
	renewed, _ := signer.Token("photos", "cat.jpg")
	fmt.Println("renewed, expires:", renewed.Expiry().Format(time.RFC3339))
	st := signer.Stats()
	fmt.Printf("hits %d, misses %d, renewals %d\n", st.Hits, st.Misses, st.Renewals)
	// Output:
	// expires: 2030-01-01T13:00:00Z
	// cached: true
	// renewed, expires: 2030-01-01T13:50:00Z
	// hits 1, misses 1, renewals 1
}

// A token pasted by a user: what it grants, until when, and whether a key
// signed it for a blob.
func ExampleParse() {
	tok, err := sas.Parse("?sv=2026-06-06&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&sig=yQ9T3X6B26ErGZZjAVRnLQCy0Wl5NIzUqz9suL9a9Vg%3D")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kind:", tok.Kind)
	fmt.Println("resource:", tok.Resource)
	fmt.Println("permissions:", tok.Permissions, "read-only:", tok.ReadOnly())
	fmt.Println("expiry:", tok.Expiry.Format(time.RFC3339))
	fmt.Println("printed:", tok)

	key, err := sas.NewSharedKey(sas.DevAccountName, sas.DevAccountKey)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("for its blob:", tok.VerifyService(key, "photos", "2024/cat on a mat.jpg", ""))
	fmt.Println("for another:", tok.VerifyService(key, "photos", "2024/dog.jpg", ""))
	// Output:
	// kind: service
	// resource: b
	// permissions: r read-only: true
	// expiry: 2030-01-01T00:00:00Z
	// printed: sv=2026-06-06&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&sig=REDACTED
	// for its blob: <nil>
	// for another: SAS signature does not match: wrong key, account or resource, or the token was altered
}

// A connection string names the account, its endpoint and a credential.
func ExampleParseConnectionString() {
	cs, err := sas.ParseConnectionString(
		"DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=" + sas.DevAccountKey + ";EndpointSuffix=core.windows.net")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cs.AccountName)
	fmt.Println(cs.BlobEndpoint)
	fmt.Println(cs.Key) // the key never prints

	dev, err := sas.ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dev.BlobEndpoint)
	// Output:
	// mystorage
	// https://mystorage.blob.core.windows.net
	// SharedKey(account=mystorage, key=REDACTED)
	// http://127.0.0.1:10000/devstoreaccount1
}

// Locate works out one account and endpoint from what a user gave, and
// refuses settings that point at two accounts.
func ExampleLocate() {
	loc, err := sas.Locate(sas.Where{Account: "mystorage"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loc.Account, loc.Endpoint, loc.Endpoint.HostPort())

	loc, err = sas.Locate(sas.Where{Endpoint: "http://127.0.0.1:10000/devstoreaccount1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loc.Account, loc.Endpoint)

	// Errors name the settings generically; Rename names them as your
	// users wrote them.
	_, err = sas.Locate(sas.Where{Account: "mystorage", Endpoint: "https://other.blob.core.windows.net"})
	fmt.Println(err)
	var where *sas.LocateError
	if errors.As(err, &where) {
		fmt.Println(where.Rename(func(s sas.Setting) string {
			return [...]string{"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_BLOB_ENDPOINT", "AZURE_STORAGE_CONNECTION_STRING"}[s]
		}))
	}
	// Output:
	// mystorage https://mystorage.blob.core.windows.net mystorage.blob.core.windows.net:443
	// devstoreaccount1 http://127.0.0.1:10000/devstoreaccount1
	// account "mystorage" differs from the account "other" that endpoint names
	// AZURE_STORAGE_ACCOUNT "mystorage" differs from the account "other" that AZURE_STORAGE_BLOB_ENDPOINT names
}

// A blob URL as users paste it, split into where it points and its token.
func ExampleParseBlobURL() {
	u, err := sas.ParseBlobURL("https://mystorage.blob.core.windows.net/photos/2024/cat.jpg?snapshot=2024-01-02T03%3A04%3A05.0000000Z&sv=2026-06-06&sp=r&se=2030-01-01&sr=bs&sig=Yt0M7v%2F4z5n3uHq1aGk8wUhUx5v8sG3c0Qm8tWq3L1E%3D")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Endpoint, u.Account, u.Container, u.Blob)
	fmt.Println(u.OtherParams)
	tok, err := sas.Parse(u.Token.Encode())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Resource, tok.Permissions, tok.Expiry.Format(time.DateOnly))
	// Output:
	// https://mystorage.blob.core.windows.net mystorage photos 2024/cat.jpg
	// [snapshot]
	// bs r 2030-01-01
}

// A user-delegation SAS is signed with a key Azure hands to an identity
// signed in with Microsoft Entra ID (Get User Delegation Key), not with an
// account key. The key below is made up; a real one comes from
// ParseUserDelegationKey.
func ExampleServiceValues_SignWithUserDelegation() {
	key, err := sas.NewDelegationKey("mystorage", sas.DelegationKeyInfo{
		SignedOID:     "6a1c6e1d-8f5b-4a58-9b3e-2f0f5c1d7e01",
		SignedTID:     "72f988bf-86f1-41af-91ab-2d7cd011db47",
		SignedStart:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		SignedExpiry:  time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
		SignedService: "b",
		SignedVersion: sas.DefaultVersion,
		Value:         base64.StdEncoding.EncodeToString([]byte("a user delegation key, 32 bytes!")),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key) // the key's value never prints
	v := sas.ServiceValues{
		Permissions: sas.PermRead,
		Container:   "photos",
		Blob:        "cat.jpg",
		Expiry:      time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC),
	}
	token, err := v.SignWithUserDelegation(key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sas.DefaultBlobEndpoint(key.Account()).URL(v.Container, v.Blob, token))
	// Output:
	// DelegationKey(account=mystorage, oid=6a1c6e1d-8f5b-4a58-9b3e-2f0f5c1d7e01, tid=72f988bf-86f1-41af-91ab-2d7cd011db47, expiry=2030-01-02T00:00:00Z, key=REDACTED)
	// https://mystorage.blob.core.windows.net/photos/cat.jpg?sv=2026-06-06&sp=r&se=2030-01-01T01%3A00%3A00Z&skoid=6a1c6e1d-8f5b-4a58-9b3e-2f0f5c1d7e01&sktid=72f988bf-86f1-41af-91ab-2d7cd011db47&skt=2030-01-01T00%3A00%3A00Z&ske=2030-01-02T00%3A00%3A00Z&sks=b&skv=2026-06-06&sr=b&sig=d%2FZ8Se%2FSUu1qEhYmy2TEM%2BYBF48Xuw23d%2FwSyocsNgw%3D
}

// exampleBlobURL is what ExampleServiceValues_Sign prints, on Azurite's
// default port.
const exampleBlobURL = "http://127.0.0.1:10000/devstoreaccount1/photos/2024/cat%20on%20a%20mat.jpg?sv=2026-06-06&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&sig=yQ9T3X6B26ErGZZjAVRnLQCy0Wl5NIzUqz9suL9a9Vg%3D"

// TestExampleURLIsAcceptedByAzurite: the URL the documentation prints is
// not only what the code computes (the Output check) but a URL Azure's
// emulator serves the blob for, and refuses for another blob.
func TestExampleURLIsAcceptedByAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	az.Upload(t, "photos", "2024/cat on a mat.jpg", []byte("a cat on a mat"), "image/jpeg")
	az.Upload(t, "photos", "2024/dog.jpg", []byte("a dog"), "image/jpeg")
	location := strings.Replace(exampleBlobURL, sas.DevBlobEndpoint, az.Endpoint, 1)
	require.NotEqual(t, exampleBlobURL, location, "the example URL is not on Azurite's default endpoint")

	resp, err := http.Get(location)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the example URL")
	assert.Equal(t, "a cat on a mat", string(body), "the example URL's blob")

	other, err := http.Get(strings.Replace(location, "cat%20on%20a%20mat.jpg", "dog.jpg", 1))
	require.NoError(t, err)
	other.Body.Close()
	assert.Equal(t, http.StatusForbidden, other.StatusCode, "the example's token for another blob")
}
