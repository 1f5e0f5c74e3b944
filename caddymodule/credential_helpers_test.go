package caddymodule_test

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// testKey is a made-up account key, base64 of 64 bytes.
func testKey(n byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{n, 'k', 'e', 'y'}, 16))
}

// mediaToken is a container read SAS for the media container, as a user
// would paste it.
func mediaToken(t *testing.T, key string) string {
	t.Helper()
	k, err := sas.NewSharedKey(sas.DevAccountName, key)
	require.NoError(t, err)
	v := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermRead, Container: "media", Expiry: time.Now().Add(time.Hour)}
	q, err := v.Sign(k)
	require.NoError(t, err)
	addSecret("a sas_token", q.Encode())
	return q.Encode()
}
