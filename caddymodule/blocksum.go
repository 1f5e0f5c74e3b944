package caddymodule

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"net/http"

	"github.com/minio/crc64nvme"
)

// crc64Since is the first service version that checks x-ms-content-crc64
// on Put Block. Versions are dates, so they compare as strings.
const crc64Since = "2019-02-02"

// setBlockChecksum sets the header by which Azure checks a staged block's
// bytes and refuses the block if they differ (Crc64Mismatch, Md5Mismatch):
// x-ms-content-crc64 from 2019-02-02, Content-MD5 for older versions.
//
// CRC-64 is Azure's own choice for blocks (the sum Put Block answers
// with), and its carry-less multiplication costs Caddy a few µs per MiB
// where MD5 costs over a millisecond (docs/upload.md#what-it-costs). It
// guards against corruption, not forgery: the request's TLS and the
// token do that.
func setBlockChecksum(h http.Header, version string, data []byte) {
	if version < crc64Since {
		sum := md5.Sum(data)
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		return
	}
	// Azure's CRC-64 is CRC-64/NVME (reflected polynomial
	// 0x9A6C9329AC4BC9B5), sent little-endian.
	sum := binary.LittleEndian.AppendUint64(nil, crc64nvme.Checksum(data))
	h.Set("x-ms-content-crc64", base64.StdEncoding.EncodeToString(sum))
}
