package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurestub"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// upload is a blob as a user with an upload URL puts it: the bytes, and
// the headers the uploader chose to store with them.
type upload struct {
	name, contentType, cacheControl, disposition string
	body                                         []byte
}

// The uploads of the user_content tests: what can run script, and what
// lies about its type, next to plain media.
var hostileUploads = []upload{
	{"users/mallory/evil.svg", "image/svg+xml", "public, max-age=31536000, immutable", "inline",
		[]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>console.log("svg script ran")</script></svg>`)},
	{"users/mallory/page.html", "text/html; charset=utf-8", "", "", []byte(`<script>console.log("html script ran")</script>`)},
	{"users/mallory/note.txt", "text/html", "", "", []byte(`<script>console.log("text script ran")</script>`)},
	{"users/mallory/photo.jpg", "image/jpeg", "max-age=31536000", `attachment; filename="photo.html"`, jpegBytes},
	{"users/mallory/shout.png", "IMAGE/PNG; name=x", "", "", []byte("\x89PNG\r\n\x1a\n")},
	{"users/mallory/clip.webm", "video/webm", "", "", []byte("\x1aE\xdf\xa3webm")},
	{"users/mallory/untyped.bin", "", "", "", []byte("no type stored")},
}

// jpegBytes is the start of a JPEG file.
var jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")

// servedAs is how a user_content route serves an upload: its type, and
// inline or attachment.
var servedAs = map[string][2]string{
	"users/mallory/evil.svg":    {"application/octet-stream", "attachment"},
	"users/mallory/page.html":   {"application/octet-stream", "attachment"},
	"users/mallory/note.txt":    {"application/octet-stream", "attachment"},
	"users/mallory/photo.jpg":   {"image/jpeg", "inline"},
	"users/mallory/shout.png":   {"image/png", "inline"},
	"users/mallory/clip.webm":   {"video/webm", "inline"},
	"users/mallory/untyped.bin": {"application/octet-stream", "attachment"},
}

// csp is the Content-Security-Policy of a user_content answer served with
// disposition (inline or attachment).
func csp(disposition string) string {
	if disposition == "inline" {
		return "sandbox allow-same-origin; default-src 'none'; img-src 'self'; media-src 'self'"
	}
	return "sandbox; default-src 'none'"
}

// putAsUser uploads u to Azurite as a client holding a create URL does,
// with the stored headers it chose (x-ms-blob-content-type …).
func putAsUser(t *testing.T, az *azurite.Server, container string, u upload) {
	t.Helper()
	key, err := sas.NewSharedKey(az.Account, az.Key)
	require.NoError(t, err)
	v := sas.ServiceValues{Permissions: sas.PermCreate, Container: container, Blob: u.name, Expiry: time.Now().Add(time.Minute)}
	token, err := v.Sign(key)
	require.NoError(t, err)
	putWithHeaders(t, az.BlobURL(container, u.name)+"?"+token.Encode(), u)
}

// TestUserContentAgainstAzurite: uploads whose stored headers the uploader
// chose (an SVG and HTML that hold script, a text file that claims to be
// HTML, an image with a year-long Cache-Control and a disposition that
// renames it .html) are served by a user_content route, proxied or
// redirected, as media inline or as downloads, never with the stored
// Cache-Control, and sandboxed; the same route without the flag serves
// them as stored, which is what the flag is for.
func TestUserContentAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	for _, u := range hostileUploads {
		putAsUser(t, az, "uploads", u)
	}
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /view/* {
		strip_prefix /view
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		user_content
	}
	azure_blob /get/* {
		strip_prefix /get
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		user_content
		redirect
	}
	azure_blob /cc/* {
		strip_prefix /cc
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		user_content
		cache_control "public, max-age=60"
		content_disposition attachment
	}
	azure_blob /plain/* {
		strip_prefix /plain
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint))

	for _, u := range hostileUploads {
		want := servedAs[u.name]
		path := "/" + azurite.EscapeBlobPath(u.name)

		// Proxied: GET and HEAD, and a revalidation.
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, body := fetch(t, tester, method, "/view"+path)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s /view%s", method, path)
			if method == http.MethodGet {
				assert.Equal(t, u.body, body, "GET /view%s: the bytes", path)
			}
			assert.Equal(t, want[0], resp.Header.Get("Content-Type"), "%s /view%s: Content-Type", method, path)
			assert.Equal(t, want[1], resp.Header.Get("Content-Disposition"), "%s /view%s: Content-Disposition", method, path)
			assert.Equal(t, "max-age=300", resp.Header.Get("Cache-Control"), "%s /view%s: the stored Cache-Control is replaced", method, path)
			assert.Equal(t, csp(want[1]), resp.Header.Get("Content-Security-Policy"), "%s /view%s", method, path)
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "%s /view%s", method, path)
		}
		resp, _ := fetch(t, tester, http.MethodGet, "/view"+path)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag, "GET /view%s: an ETag", path)
		resp, _ = fetch(t, tester, http.MethodGet, "/view"+path, "If-None-Match", etag)
		if assert.Equal(t, http.StatusNotModified, resp.StatusCode, "GET /view%s with its ETag", path) {
			// A cache takes a 304's headers into the stored answer (RFC 9111,
			// 4.3.4): the 200's Cache-Control, no type or disposition of
			// its own, and a policy that runs no script.
			assert.Equal(t, "max-age=300", resp.Header.Get("Cache-Control"), "a 304 of %s", path)
			assert.Empty(t, resp.Header.Get("Content-Type"), "a 304 of %s", path)
			assert.Empty(t, resp.Header.Get("Content-Disposition"), "a 304 of %s", path)
			assert.Equal(t, csp("inline"), resp.Header.Get("Content-Security-Policy"), "a 304 of %s", path)
		}
		resp, _ = fetch(t, tester, http.MethodGet, "/view"+path, "If-Match", `"another"`)
		if assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "GET /view%s with another ETag", path) {
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "a 412 keeps no stored Cache-Control")
			assert.Equal(t, "sandbox; default-src 'none'", resp.Header.Get("Content-Security-Policy"), "a 412")
		}

		// Signed cache_control and an attachment disposition win where
		// they apply; the type is still user_content's.
		resp, _ = fetch(t, tester, http.MethodGet, "/cc"+path)
		assert.Equal(t, want[0], resp.Header.Get("Content-Type"), "GET /cc%s", path)
		assert.Equal(t, "attachment", resp.Header.Get("Content-Disposition"), "GET /cc%s", path)
		assert.Equal(t, "public, max-age=60", resp.Header.Get("Cache-Control"), "GET /cc%s: the signed cache_control", path)

		// Redirected: Azure sends the bytes, with the headers signed into
		// the URL.
		resp, location := askRedirect(t, http.MethodGet, "/get"+path)
		require.Equal(t, http.StatusFound, resp.StatusCode, "GET /get%s", path)
		u2, err := url.Parse(location)
		require.NoError(t, err)
		assert.Equal(t, want[0], u2.Query().Get("rsct"), "GET /get%s: rsct", path)
		assert.Equal(t, want[1], u2.Query().Get("rscd"), "GET /get%s: rscd", path)
		assert.Equal(t, "max-age=300", u2.Query().Get("rscc"), "GET /get%s: rscc", path)
		got, body := azurite.Fetch(t, http.MethodGet, location, nil)
		require.Equal(t, http.StatusOK, got.StatusCode, "Azurite, for the redirect of %s", path)
		assert.Equal(t, u.body, body, "Azurite, for the redirect of %s: the bytes", path)
		assert.Equal(t, want[0], got.Header.Get("Content-Type"), "Azurite, for the redirect of %s", path)
		assert.Equal(t, want[1], got.Header.Get("Content-Disposition"), "Azurite, for the redirect of %s", path)
		assert.Equal(t, "max-age=300", got.Header.Get("Cache-Control"), "Azurite, for the redirect of %s", path)
		_, again := askRedirect(t, http.MethodGet, "/get"+path)
		assert.Equal(t, location, again, "GET /get%s twice: the URL comes from the cache", path)
	}

	// What the flag is for: without it, the SVG is served as its uploader
	// stored it, script and year-long immutable included.
	resp, _ := fetch(t, tester, http.MethodGet, "/plain/users/mallory/evil.svg")
	assert.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"), "without user_content")
	assert.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), "without user_content")
	assert.Empty(t, resp.Header.Get("Content-Security-Policy"), "without user_content")

	// A missing blob is a 404, proxied or redirected.
	for _, path := range []string{"/view/users/mallory/missing.svg", "/get/users/mallory/missing.svg"} {
		resp, location := askRedirect(t, http.MethodGet, path)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s", path)
		assert.Empty(t, location, "GET %s", path)
	}
	figure(t, "user_content: %d uploads with hostile stored headers (SVG, HTML, text claiming HTML, a year-long immutable image) served inline only as media, else as attachments, proxied and redirected, against Azurite", len(hostileUploads))
}

// TestPerUserPrefixAgainstAzurite: behind basic_auth, a prefix built from
// {http.auth.user.id} lets each user read their own uploads only, proxied
// or redirected; answers are private, so that no shared cache hands one
// user's blob to another; a request without a user gets 403.
func TestPerUserPrefixAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	az.Upload(t, "uploads", "users/alice/cat.png", []byte("ALICE'S CAT"), "image/png")
	az.Upload(t, "uploads", "users/bob/cat.png", []byte("BOB'S CAT"), "image/png")
	az.Upload(t, "uploads", "users/alice/album/index.html", []byte("ALICE'S ALBUM"), "text/html")
	t.Setenv("AZ_TEST_KEY", az.Key)
	var users strings.Builder
	for _, user := range []string{"alice", "bob"} {
		hash := passwordHash(t, user+"-password")
		fmt.Fprintf(&users, "\t\t\t%s %s\n", user, hash)
	}
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	route /mine/* {
		basic_auth {
%[2]s		}
		azure_blob {
			strip_prefix /mine
			endpoint %[1]s
			container uploads
			account_key {env.AZ_TEST_KEY}
			prefix users/{http.auth.user.id}/
			user_content
			cache_control "public, max-age=60"
			index index.html
		}
	}
	route /get/* {
		basic_auth {
%[2]s		}
		azure_blob {
			strip_prefix /get
			endpoint %[1]s
			container uploads
			account_key {env.AZ_TEST_KEY}
			prefix users/{http.auth.user.id}/
			user_content
			index index.html
			redirect
		}
	}
	azure_blob /open/* {
		strip_prefix /open
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		prefix users/{http.auth.user.id}/
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint, users.String()))

	basic := func(user string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, user+"-password")
		return req.Header.Get("Authorization")
	}
	for user, want := range map[string]string{"alice": "ALICE'S CAT", "bob": "BOB'S CAT"} {
		resp, body := fetch(t, tester, http.MethodGet, "/mine/cat.png", "Authorization", basic(user))
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: GET /mine/cat.png", user)
		assert.Equal(t, want, string(body), "%s: GET /mine/cat.png reads their own", user)
		assert.Equal(t, "private, max-age=60", resp.Header.Get("Cache-Control"), "%s: a blob per user is private", user)

		resp, location := askRedirect(t, http.MethodGet, "/get/cat.png", "Authorization", basic(user))
		require.Equal(t, http.StatusFound, resp.StatusCode, "%s: GET /get/cat.png", user)
		assert.Contains(t, location, "/uploads/users/"+user+"/cat.png?", "%s: the redirect", user)
		assert.Regexp(t, `^private, max-age=\d+, must-revalidate$`, resp.Header.Get("Cache-Control"), "%s: the redirect", user)
		got, body := azurite.Fetch(t, http.MethodGet, location, nil)
		assert.Equal(t, http.StatusOK, got.StatusCode, "%s: following the redirect", user)
		assert.Equal(t, want, string(body), "%s: following the redirect", user)
	}
	// What alice's prefix holds or lacks is hers alone: a 404, and the 308
	// of a directory without its '/', are private too.
	for _, route := range []string{"/mine", "/get"} {
		resp, _ := fetch(t, tester, http.MethodGet, route+"/missing.png", "Authorization", basic("alice"))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "alice: GET %s/missing.png", route)
		assert.Equal(t, "private, max-age=10", resp.Header.Get("Cache-Control"), "alice: GET %s/missing.png", route)
		resp, location := askRedirect(t, http.MethodGet, route+"/album", "Authorization", basic("alice"))
		assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, "alice: GET %s/album", route)
		assert.Equal(t, "./album/", location, "alice: GET %s/album", route)
		assert.Equal(t, "private", resp.Header.Get("Cache-Control"), "alice: GET %s/album", route)
	}
	resp, body := fetch(t, tester, http.MethodGet, "/mine/album/", "Authorization", basic("alice"))
	assert.Equal(t, "ALICE'S ALBUM", string(body), "alice: GET /mine/album/")
	assert.Equal(t, "attachment", resp.Header.Get("Content-Disposition"), "alice: GET /mine/album/, an HTML index")

	// Another user's prefix is out of reach, whatever the path says.
	for _, path := range []string{"/mine/../bob/cat.png", "/mine/%2e%2e/bob/cat.png", "/mine/..%2fbob/cat.png"} {
		_, body := fetch(t, tester, http.MethodGet, path, "Authorization", basic("alice"))
		assert.NotContains(t, string(body), "BOB", "alice: GET %s", path)
	}
	// No user, no prefix: 403, never the container's root.
	resp, body = fetch(t, tester, http.MethodGet, "/open/cat.png")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "GET /open/cat.png without a user")
	assert.Equal(t, "error 403", string(body), "GET /open/cat.png without a user")
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "the 403")
}

// TestUserContentRedirectHealsAfterARefusal: when Azure refuses the token
// of the HEAD that reads a blob's type (a stored policy changed, a clock
// stepped, an identity's key revoked), the token signed afresh replaces
// both the HEAD's and the redirect's, which carries the headers: the
// client is never sent with a token signed before the refusal.
func TestUserContentRedirectHealsAfterARefusal(t *testing.T) {
	azure := azurestub.New(t)
	azure.Put("uploads", "cat.png", []byte("PNG"), http.Header{"Content-Type": {"image/png"}})
	var refuseNextHead atomic.Bool
	azure.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && refuseNextHead.CompareAndSwap(true, false) {
			azurestub.WriteError(w, http.StatusForbidden, "AuthenticationFailed")
			return true
		}
		return false
	})
	t.Setenv("AZ_TEST_KEY", sas.DevAccountKey)
	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /get/* {
		strip_prefix /get
		endpoint %s
		container uploads
		account_key {env.AZ_TEST_KEY}
		user_content
		redirect
	}
}`, azure.Endpoint))
	signatures := func() float64 {
		t.Helper()
		v, ok := metricValue(scrapeMetrics(t), "caddy_azure_blob_signatures_total", `account="devstoreaccount1",container="uploads"`)
		require.True(t, ok, "signatures_total for uploads")
		return v
	}
	resp, first := askRedirect(t, http.MethodGet, "/get/cat.png")
	require.Equal(t, http.StatusFound, resp.StatusCode, "the first redirect")
	assert.Contains(t, first, "rsct=image%2Fpng", "the first redirect")
	assert.Equal(t, 2.0, signatures(), "the HEAD's token and the redirect's")

	refuseNextHead.Store(true)
	resp, second := askRedirect(t, http.MethodGet, "/get/cat.png")
	require.Equal(t, http.StatusFound, resp.StatusCode, "the redirect after a refusal")
	assert.False(t, refuseNextHead.Load(), "the HEAD was not refused")
	assert.Equal(t, 4.0, signatures(), "after the refusal: the HEAD's token and the redirect's signed afresh")
	_, third := askRedirect(t, http.MethodGet, "/get/cat.png")
	assert.Equal(t, second, third, "the token signed afresh is cached again")
	assert.Equal(t, 4.0, signatures(), "a third redirect signed again")
}
