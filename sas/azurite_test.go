package sas_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tokens signed by this package, checked by a real Azurite: what it accepts
// (status and exact bytes) and what it refuses (status and error code, so a
// refusal for the intended reason is told apart from a broken signature).
//
// One Azurite serves the whole file: TestAzurite starts it (skipping, or
// failing under CI, when it is not installed) and runs every case as a
// subtest. Run one group with -run 'TestAzurite/Refusals'.
//
// Azurite checks signatures, expiry, permissions, resource scope, protocol,
// stored policies and response overrides. It does not check sip or the
// layouts before 2015-04-05, and it reads x-ms-version, not sv; nothing here
// claims otherwise.

// codeAuth is Azurite's x-ms-error-code for every authentication failure:
// no token, a wrong signature, a time outside st/se, an unknown policy. The
// refusal cases that expect it carry a control (the same token, unedited, on
// its own resource, is accepted), so a broken signer cannot pass them.
const codeAuth = "AuthorizationFailure"

const (
	azPrivate  = "private"
	azPrivate2 = "private-two"
	azPublic   = "public"

	azPlain = "hello.txt"
	azOther = "other.txt"
	// Every character a mapping can get wrong, in nested folders.
	azSpecial = "dir one/sub+dir/ünï cödé +#?%;=&.bin"
)

var (
	azPlainData   = []byte("hello, azurite\n")
	azOtherData   = []byte("another blob\n")
	azSpecialData = func() []byte {
		b := make([]byte, 300)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}()
	azPrivate2Data = []byte("the second container's hello\n")
	azPublicData   = []byte("public bytes\n")
)

// azEnv is the seeded server shared by the subtests.
type azEnv struct {
	srv    *azurite.Server
	key    *sas.SharedKey
	expiry time.Time
}

func TestAzurite(t *testing.T) {
	srv := azurite.Start(t)
	key, err := sas.NewSharedKey(srv.Account, srv.Key)
	require.NoError(t, err)
	srv.CreateContainer(t, azPrivate, false)
	srv.Upload(t, azPrivate, azPlain, azPlainData, "text/plain; charset=utf-8")
	srv.Upload(t, azPrivate, azOther, azOtherData, "text/plain; charset=utf-8")
	srv.Upload(t, azPrivate, azSpecial, azSpecialData, "")
	srv.CreateContainer(t, azPrivate2, false)
	srv.Upload(t, azPrivate2, azPlain, azPrivate2Data, "")
	srv.CreateContainer(t, azPublic, true)
	srv.Upload(t, azPublic, azPlain, azPublicData, "")

	env := &azEnv{srv: srv, key: key, expiry: time.Now().Add(time.Hour)}
	t.Run("Unsigned", env.testUnsigned)
	t.Run("ServiceSAS", env.testServiceSAS)
	t.Run("AccountSAS", env.testAccountSAS)
	t.Run("Refusals", env.testRefusals)
	t.Run("StoredPolicy", env.testStoredPolicy)
	t.Run("HeaderOverrides", env.testHeaderOverrides)
	t.Run("RequestShapes", env.testRequestShapes)
}

// sign signs v and stops the test on error.
func (e *azEnv) sign(t *testing.T, v sas.ServiceValues) string {
	t.Helper()
	q, err := v.Sign(e.key)
	require.NoError(t, err, "Sign")
	return q.Encode()
}

// get fetches a blob with a token (none when empty).
func (e *azEnv) get(t *testing.T, method, container, blob, token string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	u := e.srv.BlobURL(container, blob)
	if token != "" {
		u += "?" + token
	}
	return azurite.Fetch(t, method, u, header)
}

// wantOK asserts a 200 with exactly want as the body, and reports whether
// both held.
func wantOK(t *testing.T, resp *http.Response, body, want []byte) bool {
	t.Helper()
	return assert.Equal(t, http.StatusOK, resp.StatusCode, "x-ms-error-code %q; body:\n%s", resp.Header.Get("x-ms-error-code"), body) &&
		assert.Equal(t, want, body, "body")
}

// wantRefused asserts a status with Azure's error code.
func wantRefused(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	assert.Equal(t, status, resp.StatusCode, "status; body:\n%s", body)
	assert.Equal(t, code, resp.Header.Get("x-ms-error-code"), "x-ms-error-code; body:\n%s", body)
}

// testUnsigned proves the private containers are private: the accepting
// cases below owe their 200 to the token.
func (e *azEnv) testUnsigned(t *testing.T) {
	for _, tc := range []struct {
		container, blob string
	}{
		{azPrivate, azPlain},
		{azPrivate, azSpecial},
		{azPrivate2, azPlain},
	} {
		t.Run(tc.container+"/"+tc.blob, func(t *testing.T) {
			resp, body := e.get(t, http.MethodGet, tc.container, tc.blob, "", nil)
			// Azurite answers 403 AuthorizationFailure for anonymous access
			// to a private container.
			wantRefused(t, resp, body, http.StatusForbidden, codeAuth)
		})
	}
	t.Run("public container answers anonymously", func(t *testing.T) {
		resp, body := e.get(t, http.MethodGet, azPublic, azPlain, "", nil)
		wantOK(t, resp, body, azPublicData)
	})
}

// testServiceSAS reads private blobs with blob- and container-scoped tokens
// of every layout Azurite checks.
func (e *azEnv) testServiceSAS(t *testing.T) {
	versions := []string{"2015-04-05", "2018-11-09", "2020-12-06", sas.DefaultVersion, sas.VersionLatest}
	blobs := []struct {
		name string
		data []byte
	}{
		{azPlain, azPlainData},
		{azSpecial, azSpecialData},
	}
	for _, version := range versions {
		for _, scope := range []sas.Resource{sas.ResourceBlob, sas.ResourceContainer} {
			for _, b := range blobs {
				t.Run("sv="+version+"/sr="+string(scope)+"/"+b.name, func(t *testing.T) {
					v := sas.ServiceValues{
						Version:     version,
						Resource:    scope,
						Permissions: sas.PermRead,
						Expiry:      e.expiry,
						Container:   azPrivate,
					}
					if scope == sas.ResourceBlob {
						v.Blob = b.name // decoded: the token signs the name, the URL escapes it
					}
					token := e.sign(t, v)
					assert.Contains(t, token, "sr="+string(scope), "the token lacks its scope")
					resp, body := e.get(t, http.MethodGet, azPrivate, b.name, token, nil)
					wantOK(t, resp, body, b.data)
				})
			}
		}
	}
}

func (e *azEnv) signAccount(t *testing.T, v sas.AccountValues) string {
	t.Helper()
	q, err := v.Sign(e.key)
	require.NoError(t, err, "Sign")
	return q.Encode()
}

func (e *azEnv) testAccountSAS(t *testing.T) {
	for _, version := range []string{"2015-04-05", "2020-12-06", sas.DefaultVersion} {
		t.Run("sv="+version, func(t *testing.T) {
			token := e.signAccount(t, sas.AccountValues{
				Version:       version,
				Services:      sas.ServiceBlob,
				ResourceTypes: sas.ResourceTypeObject,
				Permissions:   sas.AccountRead,
				Expiry:        e.expiry,
			})
			for _, b := range []struct {
				name string
				data []byte
			}{{azPlain, azPlainData}, {azSpecial, azSpecialData}} {
				resp, body := e.get(t, http.MethodGet, azPrivate, b.name, token, nil)
				wantOK(t, resp, body, b.data)
			}
		})
	}
	t.Run("srt without o", func(t *testing.T) {
		token := e.signAccount(t, sas.AccountValues{
			Services:      sas.ServiceBlob,
			ResourceTypes: sas.ResourceTypeService | sas.ResourceTypeContainer,
			Permissions:   sas.AccountRead,
			Expiry:        e.expiry,
		})
		resp, body := e.get(t, http.MethodGet, azPrivate, azPlain, token, nil)
		wantRefused(t, resp, body, http.StatusForbidden, "AuthorizationResourceTypeMismatch")
	})
}

// tamper flips the first character of sig, keeping it valid base64 (the
// first character carries six bits of the MAC, so the bytes change).
func tamper(t *testing.T, token string) string {
	t.Helper()
	q, err := url.ParseQuery(token)
	require.NoError(t, err)
	sig := q.Get("sig")
	require.NotEmpty(t, sig, "token has no sig")
	flipped := byte('A')
	if sig[0] == 'A' {
		flipped = 'B'
	}
	q.Set("sig", string(flipped)+sig[1:])
	return q.Encode()
}

func (e *azEnv) testRefusals(t *testing.T) {
	plain := sas.ServiceValues{Permissions: sas.PermRead, Expiry: e.expiry, Container: azPrivate, Blob: azPlain}
	with := func(edit func(v *sas.ServiceValues)) sas.ServiceValues {
		v := plain
		edit(&v)
		return v
	}
	for _, tc := range []struct {
		name      string
		values    sas.ServiceValues
		token     func(t *testing.T, token string) string // edits the signed token; nil keeps it
		container string                                  // requested; empty means azPrivate
		blob      string                                  // requested; empty means azPlain
		code      string
		// control: the token as signed is first shown to work on the
		// resource it names, so the refusal is due to the change alone.
		control bool
	}{
		{
			name:   "write only",
			values: with(func(v *sas.ServiceValues) { v.Permissions = sas.PermWrite }),
			code:   "AuthorizationPermissionMismatch",
		},
		{
			name:   "create only",
			values: with(func(v *sas.ServiceValues) { v.Permissions = sas.PermCreate }),
			code:   "AuthorizationPermissionMismatch",
		},
		{
			name:   "container token without read",
			values: with(func(v *sas.ServiceValues) { v.Blob, v.Permissions = "", sas.PermList|sas.PermWrite }),
			code:   "AuthorizationPermissionMismatch",
		},
		{
			name:    "tampered sig",
			values:  plain,
			token:   tamper,
			code:    codeAuth,
			control: true,
		},
		{
			name:    "tampered sig, container token",
			values:  with(func(v *sas.ServiceValues) { v.Blob = "" }),
			token:   tamper,
			code:    codeAuth,
			control: true,
		},
		{
			name:   "expired",
			values: with(func(v *sas.ServiceValues) { v.Expiry = time.Now().Add(-time.Hour) }),
			code:   codeAuth,
		},
		{
			name:   "not yet valid",
			values: with(func(v *sas.ServiceValues) { v.Start = time.Now().Add(30 * time.Minute) }),
			code:   codeAuth,
		},
		{
			name:   "https only over http",
			values: with(func(v *sas.ServiceValues) { v.Protocol = sas.ProtocolHTTPS }),
			code:   "AuthorizationProtocolMismatch",
		},
		{
			name:    "blob token on another blob",
			values:  plain,
			blob:    azOther,
			code:    codeAuth,
			control: true,
		},
		{
			name:      "blob token on the same name in another container",
			values:    plain,
			container: azPrivate2,
			code:      codeAuth,
			control:   true,
		},
		{
			name:      "container token on another container",
			values:    with(func(v *sas.ServiceValues) { v.Blob = "" }),
			container: azPrivate2,
			code:      codeAuth,
			control:   true,
		},
		{
			name:   "sig of another account key",
			values: plain,
			token: func(t *testing.T, token string) string {
				other, err := sas.NewSharedKey(sas.DevAccountName, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
				require.NoError(t, err)
				q, err := plain.Sign(other)
				require.NoError(t, err)
				return q.Encode()
			},
			code:    codeAuth,
			control: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := e.sign(t, tc.values)
			if tc.control {
				resp, body := e.get(t, http.MethodGet, tc.values.Container, azPlain, token, nil)
				require.True(t, wantOK(t, resp, body, azPlainData), "control: the token as signed is refused, so the refusal below would prove nothing")
			}
			if tc.token != nil {
				token = tc.token(t, token)
			}
			container, blob := azPrivate, azPlain
			if tc.container != "" {
				container = tc.container
			}
			if tc.blob != "" {
				blob = tc.blob
			}
			resp, body := e.get(t, http.MethodGet, container, blob, token, nil)
			wantRefused(t, resp, body, http.StatusForbidden, tc.code)
		})
	}
}

func (e *azEnv) testStoredPolicy(t *testing.T) {
	const id = "read-for-an-hour"
	e.srv.SetAccessPolicy(t, azPrivate, id, "r", time.Time{}, time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name   string
		values sas.ServiceValues
		status int
		code   string
	}{
		{
			name:   "blob token naming the policy",
			values: sas.ServiceValues{Identifier: id, Container: azPrivate, Blob: azPlain},
			status: http.StatusOK,
		},
		{
			name:   "container token naming the policy",
			values: sas.ServiceValues{Identifier: id, Container: azPrivate},
			status: http.StatusOK,
		},
		{
			name:   "policy that does not exist",
			values: sas.ServiceValues{Identifier: "no-such-policy", Container: azPrivate, Blob: azPlain},
			status: http.StatusForbidden,
			code:   codeAuth,
		},
		{
			name:   "policy of another container",
			values: sas.ServiceValues{Identifier: id, Container: azPrivate2, Blob: azPlain},
			status: http.StatusForbidden,
			code:   codeAuth,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := e.sign(t, tc.values)
			for _, p := range []string{"sp=", "se=", "st="} {
				assert.NotContains(t, token, p, "the token carries %s although the policy defines it", p)
			}
			resp, body := e.get(t, http.MethodGet, tc.values.Container, azPlain, token, nil)
			if tc.status == http.StatusOK {
				data := azPlainData
				if tc.values.Container == azPrivate2 {
					data = azPrivate2Data
				}
				wantOK(t, resp, body, data)
				return
			}
			wantRefused(t, resp, body, tc.status, tc.code)
		})
	}
	t.Run("revoked", func(t *testing.T) {
		token := e.sign(t, sas.ServiceValues{Identifier: id, Container: azPrivate, Blob: azPlain})
		e.srv.RemoveAccessPolicy(t, azPrivate, id)
		resp, body := e.get(t, http.MethodGet, azPrivate, azPlain, token, nil)
		wantRefused(t, resp, body, http.StatusForbidden, codeAuth)
	})
}

func (e *azEnv) testHeaderOverrides(t *testing.T) {
	want := map[string]string{
		"Cache-Control": "public, max-age=60",
		// Non-ASCII as RFC 8187 escapes: Azurite (Node.js) writes header
		// values as Latin-1, so raw UTF-8 would come back mangled.
		"Content-Disposition": `attachment; filename="unicode.bin"; filename*=UTF-8''%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.bin`,
		"Content-Language":    "de-CH",
		"Content-Type":        "application/x-test; charset=utf-8",
	}
	for _, version := range []string{"2015-04-05", "2018-11-09", sas.DefaultVersion, sas.VersionLatest} {
		for _, scope := range []sas.Resource{sas.ResourceBlob, sas.ResourceContainer} {
			t.Run("sv="+version+"/sr="+string(scope), func(t *testing.T) {
				v := sas.ServiceValues{
					Version:            version,
					Resource:           scope,
					Permissions:        sas.PermRead,
					Expiry:             e.expiry,
					Container:          azPrivate,
					CacheControl:       want["Cache-Control"],
					ContentDisposition: want["Content-Disposition"],
					ContentLanguage:    want["Content-Language"],
					ContentType:        want["Content-Type"],
				}
				if scope == sas.ResourceBlob {
					v.Blob = azSpecial
				}
				token := e.sign(t, v)
				for _, p := range []string{"rscc=", "rscd=", "rscl=", "rsct="} {
					assert.Contains(t, token, p, "the token lacks %s", p)
				}
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, body := e.get(t, method, azPrivate, azSpecial, token, nil)
					if method == http.MethodGet {
						wantOK(t, resp, body, azSpecialData)
					} else {
						assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD: status")
					}
					for h, w := range want {
						assert.Equal(t, w, resp.Header.Get(h), "%s: %s", method, h)
					}
				}
			})
		}
	}
	t.Run("overrides are signed", func(t *testing.T) {
		token := e.sign(t, sas.ServiceValues{Permissions: sas.PermRead, Expiry: e.expiry, Container: azPrivate, Blob: azPlain,
			ContentType: "text/html"})
		q, err := url.ParseQuery(token)
		require.NoError(t, err)
		require.Equal(t, "text/html", q.Get("rsct"), "the token lacks the override to change")
		q.Set("rsct", "application/octet-stream") // a client changing the override
		resp, body := e.get(t, http.MethodGet, azPrivate, azPlain, q.Encode(), nil)
		wantRefused(t, resp, body, http.StatusForbidden, codeAuth)
	})
}

// testRequestShapes: one token serves GET, HEAD and ranges alike.
func (e *azEnv) testRequestShapes(t *testing.T) {
	for _, b := range []struct {
		name string
		data []byte
	}{{azPlain, azPlainData}, {azSpecial, azSpecialData}} {
		token := e.sign(t, sas.ServiceValues{Permissions: sas.PermRead, Expiry: e.expiry, Container: azPrivate, Blob: b.name})
		size := strconv.Itoa(len(b.data))
		t.Run("HEAD/"+b.name, func(t *testing.T) {
			resp, body := e.get(t, http.MethodHead, azPrivate, b.name, token, nil)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "status")
			assert.Empty(t, body, "a HEAD answered with a body")
			assert.Equal(t, size, resp.Header.Get("Content-Length"), "Content-Length")
		})
		for _, r := range []struct {
			header, contentRange string
			from, to             int // the bytes expected, [from, to)
		}{
			{"bytes=2-5", "bytes 2-5/" + size, 2, 6},
			{"bytes=3-", "bytes 3-" + strconv.Itoa(len(b.data)-1) + "/" + size, 3, len(b.data)},
		} {
			t.Run("Range "+r.header+"/"+b.name, func(t *testing.T) {
				resp, body := e.get(t, http.MethodGet, azPrivate, b.name, token, http.Header{"Range": {r.header}})
				require.Equal(t, http.StatusPartialContent, resp.StatusCode, "status (x-ms-error-code %q)", resp.Header.Get("x-ms-error-code"))
				assert.Equal(t, b.data[r.from:r.to], body, "body")
				assert.Equal(t, r.contentRange, resp.Header.Get("Content-Range"), "Content-Range")
			})
		}
	}
}
