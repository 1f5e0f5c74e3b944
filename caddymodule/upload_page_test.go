package caddymodule_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
)

// chromiumPath finds Debian's Chromium; ./xcaddy.sh test installs it. With
// CI=true its absence fails the test instead of skipping it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: ./xcaddy.sh test installs it")
		}
		t.Skip("chromium is not installed: ./xcaddy.sh test installs it")
	}
	return path
}

// browserAs opens a headless Chromium that answers Caddy's basic_auth
// challenge as user, and returns its context.
func browserAs(t *testing.T, chromium, user string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	// The answers run in goroutines of their own: a listener must not run
	// commands itself.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdpfetch.EventAuthRequired:
			go func() {
				_, _ = chromedp.Call(ctx, cdpfetch.ContinueWithAuth, cdpfetch.ContinueWithAuthParams{RequestID: e.RequestID,
					AuthChallengeResponse: &cdpfetch.AuthChallengeResponse{
						Response: cdpfetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: user + "-password"}})
			}()
		case *cdpfetch.EventRequestPaused:
			go func() {
				_, _ = chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: e.RequestID})
			}()
		}
	})
	require.NoError(t, err, "starting Chromium")
	answer := true
	_, err = chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{HandleAuthRequests: &answer})
	require.NoError(t, err, "answering basic_auth in Chromium")
	return ctx
}

// uploadWithPage chooses file on the page, names it, uploads it, and
// returns the page's status line once it is settled.
func uploadWithPage(t *testing.T, ctx context.Context, file, name string) string {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent = "…"`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.Click(chromedp.ID("upload")),
	), "uploading %s as %s", file, name)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(s => s.startsWith("uploaded") || s.startsWith("refused") || s.startsWith("failed"))(document.getElementById("status").textContent)`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "waiting for the upload of %s", name)
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
	require.NoError(t, err)
	return status
}

// TestUploadPageInChromium drives the demo's upload page in headless
// Chromium: alice uploads an image straight to Azurite with a create-only
// URL from azure_sas, and it renders through the site's azure_blob route and
// its redirect route; a second upload to the same name is refused by
// Azurite; bob uploads under his own prefix and cannot reach alice's.
func TestUploadPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	az.AllowBrowsers(t, "http://localhost:9080")
	t.Setenv("AZ_TEST_KEY", az.Key)
	page, err := filepath.Abs("../testdata/demo/upload")
	require.NoError(t, err)
	var users strings.Builder
	for _, user := range []string{"alice", "bob"} {
		hash, err := caddyauth.BcryptHash{}.Hash([]byte(user + "-password"))
		require.NoError(t, err)
		fmt.Fprintf(&users, "\t\t%s %s\n", user, hash)
	}
	startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	basic_auth {
%[3]s	}
	handle_path /upload/* {
		root * %[2]s
		file_server
	}
	azure_sas /sas {
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		prefix users/{http.auth.user.id}/
		permissions c
	}
	azure_blob /view/* {
		strip_prefix /view
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
	}
	azure_blob /get/* {
		strip_prefix /get
		endpoint %[1]s
		container uploads
		account_key {env.AZ_TEST_KEY}
		redirect
	}
}`, az.Endpoint, page, users.String()))

	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			img.Set(x, y, color.RGBA{R: 200, G: uint8(x * 6), B: uint8(y * 8), A: 255})
		}
	}
	var encoded bytes.Buffer
	require.NoError(t, png.Encode(&encoded, img))
	file := filepath.Join(t.TempDir(), "tile.png")
	require.NoError(t, os.WriteFile(file, encoded.Bytes(), 0o600))

	open := func(ctx context.Context, who string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("http://localhost:9080/upload/index.html"),
			chromedp.WaitVisible(chromedp.ID("upload"))), "opening the page as %s", who)
	}
	alice := browserAs(t, chromium, "alice")
	open(alice, "alice")
	assert.Equal(t, "uploaded users/alice/tile.png", uploadWithPage(t, alice, file, "tile.png"))
	_, err = chromedp.Run(alice, chromedp.Poll[bool](`["proxied", "redirected"].every(id => { const i = document.getElementById(id); return i.complete && i.naturalWidth > 0; })`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the uploaded image rendering")
	for _, id := range []string{"proxied", "redirected"} {
		width, err := chromedp.Run(alice, chromedp.Evaluate[float64](`document.getElementById("`+id+`").naturalWidth`))
		require.NoError(t, err)
		assert.Equal(t, float64(40), width, "naturalWidth of the %s image", id)
	}
	screenshot, err := chromedp.Run(alice, chromedp.FullScreenshot(100)) // quality 100 writes a PNG
	require.NoError(t, err, "the screenshot")
	shot := filepath.Join(t.TempDir(), "upload-page.png")
	if keep := os.Getenv("UPLOAD_PAGE_SCREENSHOT"); keep != "" {
		shot = keep // to look at it after the test
	}
	require.NoError(t, os.WriteFile(shot, screenshot, 0o600))
	assert.Greater(t, len(screenshot), 1000, "the screenshot")
	assert.Equal(t, "refused by Azure (403)", uploadWithPage(t, alice, file, "tile.png"), "a second upload to the same name")

	bob := browserAs(t, chromium, "bob")
	open(bob, "bob")
	assert.Equal(t, "uploaded users/bob/tile.png", uploadWithPage(t, bob, file, "tile.png"), "bob's own tile.png")
	assert.True(t, strings.HasPrefix(uploadWithPage(t, bob, file, "../alice/evil.png"), "refused by /sas (400)"), "bob under alice's prefix")
	figure(t, "upload page in Chromium: a create-only upload straight to Azurite rendered (naturalWidth 40) through azure_blob and its redirect; a second upload refused 403; another user's prefix refused 400; screenshot %d bytes", len(screenshot))
}
