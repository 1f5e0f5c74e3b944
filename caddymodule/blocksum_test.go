package caddymodule

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// randomBlock is n bytes that differ from run to run of the seed only.
func randomBlock(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBlockChecksumKnownAnswers: the CRC-64 is CRC-64/NVME's check value
// for "123456789", sent little-endian; the same header the Azure SDK for
// Go sends for a block when asked to compute a CRC-64; and MD5 for
// versions before 2019-02-02.
func TestBlockChecksumKnownAnswers(t *testing.T) {
	h := http.Header{}
	setBlockChecksum(h, sas.DefaultVersion, []byte("123456789"))
	// 0xae8b14860a799888, least significant byte first.
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0x88, 0x98, 0x79, 0x0a, 0x86, 0x14, 0x8b, 0xae}), h.Get("x-ms-content-crc64"))
	assert.Empty(t, h.Get("Content-MD5"), "Azure refuses a block that carries both")

	sdkSent := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdkSent <- r.Header.Get("x-ms-content-crc64")
		w.Header().Set("x-ms-content-crc64", r.Header.Get("x-ms-content-crc64"))
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	client, err := blockblob.NewClientWithNoCredential(srv.URL+"/devstoreaccount1/c/b", nil)
	require.NoError(t, err)
	for _, size := range []int{1, 4095, 4 << 20} {
		data := randomBlock(size, uint64(size))
		_, err := client.StageBlock(context.Background(), "YmxvY2s=", streaming.NopCloser(bytes.NewReader(data)),
			&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeComputeCRC64()})
		require.NoError(t, err)
		ours := http.Header{}
		setBlockChecksum(ours, sas.DefaultVersion, data)
		assert.Equal(t, <-sdkSent, ours.Get("x-ms-content-crc64"), "%d bytes", size)
	}

	old := http.Header{}
	setBlockChecksum(old, "2018-11-09", []byte("123456789"))
	sum := md5.Sum([]byte("123456789"))
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), old.Get("Content-MD5"))
	assert.Empty(t, old.Get("x-ms-content-crc64"), "2018-11-09 does not know it")
}

// TestAzuriteRefusesCorruptedBlocks: a block whose bytes differ from its
// checksum by one bit is refused (400, nothing staged), and the same block
// intact is staged, with the CRC-64 of today's version and the MD5 of an
// older one.
func TestAzuriteRefusesCorruptedBlocks(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	key, err := sas.NewSharedKey(az.Account, az.Key)
	require.NoError(t, err)
	for _, c := range []struct{ version, refusal string }{
		{sas.DefaultVersion, "Crc64Mismatch"},
		{"2018-11-09", "Md5Mismatch"},
	} {
		t.Run(c.version, func(t *testing.T) {
			blobName := "corrupt-" + c.version
			v := sas.ServiceValues{Version: c.version, Permissions: sas.PermCreate | sas.PermWrite,
				Expiry: time.Now().Add(time.Hour), Container: "uploads", Blob: blobName}
			q, err := v.Sign(key)
			require.NoError(t, err)
			data := randomBlock(64<<10, 7)
			put := func(body []byte, blockID string) *http.Response {
				req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s?comp=block&blockid=%s&%s",
					az.BlobURL("uploads", blobName), blockID, q.Encode()), bytes.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("x-ms-version", c.version)
				setBlockChecksum(req.Header, c.version, data)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				return resp
			}
			corrupted := bytes.Clone(data)
			corrupted[len(corrupted)/2] ^= 1
			resp := put(corrupted, "YmFk")
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Equal(t, c.refusal, resp.Header.Get("x-ms-error-code"))
			resp = put(data, "Z29vZA==")
			assert.Equal(t, http.StatusCreated, resp.StatusCode, resp.Header.Get("x-ms-error-code"))

			blocks, err := az.Client().ServiceClient().NewContainerClient("uploads").NewBlockBlobClient(blobName).
				GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
			require.NoError(t, err)
			var staged []string
			for _, b := range blocks.UncommittedBlocks {
				staged = append(staged, *b.Name)
			}
			assert.Equal(t, []string{"Z29vZA=="}, staged, "only the intact block is staged")
		})
	}
}

// BenchmarkBlockChecksum: the checksum of one 4 MiB block, as each
// version sends it: go test ./caddymodule -run '^$' -bench BlockChecksum -benchmem
func BenchmarkBlockChecksum(b *testing.B) {
	data := randomBlock(uploadBlockSize, 1)
	for _, c := range []struct{ name, version string }{{"crc64", sas.DefaultVersion}, {"md5", "2018-11-09"}} {
		b.Run(c.name, func(b *testing.B) {
			h := http.Header{}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				setBlockChecksum(h, c.version, data)
			}
		})
	}
}
