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

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/needs"
)

// chromiumPath finds Debian's Chromium; ./xcaddy.sh test installs it. With
// CI=true its absence fails the test instead of skipping it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		needs.Missing(t, "chromium is not installed: ./xcaddy.sh test installs it")
	}
	return path
}

// newBrowser opens a headless Chromium, for a minute at most, and returns
// its context.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// browserAs opens a headless Chromium that answers Caddy's basic_auth
// challenge as user, and returns its context.
func browserAs(t *testing.T, chromium, user string) context.Context {
	t.Helper()
	ctx := newBrowser(t, chromium)
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

// uploadForm names the elements of one of the upload page's forms, and
// the words its status line starts with once it is settled.
type uploadForm struct {
	file, name, button, status string
	settled                    []string
}

// The page's two forms: straight to Azure with a URL from /sas, and
// through Caddy with azure_upload.
var (
	sasForm     = uploadForm{"file", "name", "upload", "status", []string{"uploaded", "refused", "failed"}}
	throughForm = uploadForm{"through-file", "through-name", "through-upload", "through-status", []string{"stored", "refused", "failed"}}
)

// submit chooses file in the form, names it, uploads it, and returns the
// form's status line once it is settled.
func (f uploadForm) submit(t *testing.T, ctx context.Context, file, name string) string {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("`+f.status+`").textContent = "…"`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID(f.file), []string{file}),
		chromedp.SetValue(chromedp.ID(f.name), name),
		chromedp.Click(chromedp.ID(f.button)),
	), "uploading %s as %s with the form of %s", file, name, f.button)
	settled := `(s => ["` + strings.Join(f.settled, `", "`) + `"].some(w => s.startsWith(w)))(document.getElementById("` + f.status + `").textContent)`
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](settled, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "waiting for the upload of %s", name)
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(f.status)))
	require.NoError(t, err)
	return status
}

// demoSite runs testdata/demo/Caddyfile, as ./xcaddy.sh demo does, in the
// test server, without Caddyfile.example's sites: the upload page, /sas
// and the redirect route /get/ on the test testSite, the user-content origin
// it returns on a port of its own, user demo (password demo-password),
// and Azurite with the container uploads, open to the page's uploads.
func demoSite(t *testing.T) (*azurite.Server, string) {
	t.Helper()
	az := azurite.Start(t)
	az.CreateContainer(t, "uploads", false)
	az.AllowBrowsers(t, testSite)
	page, err := filepath.Abs("../testdata/demo/upload")
	require.NoError(t, err)
	demo, err := os.ReadFile("../testdata/demo/Caddyfile")
	require.NoError(t, err)
	noExample := filepath.Join(t.TempDir(), "Caddyfile.example")
	require.NoError(t, os.WriteFile(noExample, nil, 0o600))
	hash := passwordHash(t, "demo-password")
	content := fmt.Sprintf("http://localhost:%d", freePort(t))
	files := fmt.Sprintf("http://localhost:%d", freePort(t))
	for name, value := range map[string]string{"CADDYFILE_EXAMPLE": noExample, "UPLOAD_ADDRESS": testSite,
		"CONTENT_ADDRESS": content, "UPLOAD_PAGE": page, "AZURE_BLOB_ENDPOINT": az.Endpoint, "AZURE_STORAGE_KEY": az.Key,
		"DEMO_PASSWORD_HASH": hash, "FILES_ADDRESS": files} {
		t.Setenv(name, value)
	}
	// The demo's global options go into the test's own global block.
	globals, sites, ok := strings.Cut(string(demo), "\n{\n")
	require.True(t, ok, "testdata/demo/Caddyfile has no global options block")
	options, sites, ok := strings.Cut(sites, "\n}\n")
	require.True(t, ok, "testdata/demo/Caddyfile: its global options block does not end")
	startCaddy(t, caddyGlobalsWith("\tgrace_period 1ns\n"+options+"\n")+globals+sites)
	return az, content
}

// tilePNG writes a 40x30 PNG and returns its path.
func tilePNG(t *testing.T) string {
	t.Helper()
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
	return file
}

// TestUploadPageInChromium drives the demo's upload page in headless
// Chromium: the user uploads an image straight to Azurite with a
// create-only URL from azure_sas, it renders through the redirect route,
// and the page's link opens it on the user-content origin, where the
// sandbox still shows the image; a second upload to the same name is
// refused by Azurite, and a name outside the user's prefix by /sas.
func TestUploadPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	_, content := demoSite(t)
	file := tilePNG(t)

	browser := browserAs(t, chromium, "demo")
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(testSite+"/upload/index.html"),
		chromedp.WaitVisible(chromedp.ID("upload"))), "opening the page")
	assert.Equal(t, "uploaded users/demo/tile.png", sasForm.submit(t, browser, file, "tile.png"))
	_, err := chromedp.Run(browser, chromedp.Poll[bool](`(i => i.complete && i.naturalWidth > 0)(document.getElementById("redirected"))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the uploaded image rendering")
	width, err := chromedp.Run(browser, chromedp.Evaluate[float64](`document.getElementById("redirected").naturalWidth`))
	require.NoError(t, err)
	assert.Equal(t, float64(40), width, "naturalWidth of the redirected image")
	link, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("proxied").href`))
	require.NoError(t, err)
	assert.Equal(t, content+"/view/tile.png", link, "the page's link to the user-content origin")
	screenshot, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // quality 100 writes a PNG
	require.NoError(t, err, "the screenshot")
	shot := filepath.Join(t.TempDir(), "upload-page.png")
	if keep := os.Getenv("UPLOAD_PAGE_SCREENSHOT"); keep != "" {
		shot = keep // to look at it after the test
	}
	require.NoError(t, os.WriteFile(shot, screenshot, 0o600))
	assert.Greater(t, len(screenshot), 1000, "the screenshot")
	assert.Equal(t, "refused by Azure (403)", sasForm.submit(t, browser, file, "tile.png"), "a second upload to the same name")
	assert.True(t, strings.HasPrefix(sasForm.submit(t, browser, file, "../other/evil.png"), "refused by /sas (400)"), "a name outside the user's prefix")

	// The second form, through azure_upload: an image is stored and shows
	// through azure_blob; a file over the limit, and a page named .png,
	// show the refusal's message.
	assert.Equal(t, "stored users/demo/through.png as image/png", throughForm.submit(t, browser, file, "through.png"), "an image through Caddy")
	_, err = chromedp.Run(browser, chromedp.Poll[bool](`(i => i.complete && i.naturalWidth > 0)(document.getElementById("through-image"))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the image uploaded through Caddy rendering")
	src, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("through-image").src`))
	require.NoError(t, err)
	assert.Equal(t, testSite+"/get/through.png", src, "the image shown is read where the answer's Location says")
	big := filepath.Join(t.TempDir(), "big.png")
	require.NoError(t, os.WriteFile(big, append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 1_000_001)...), 0o600))
	assert.Equal(t, "refused (413): the file is larger than 1.0 MB", throughForm.submit(t, browser, big, "big.png"), "a file over the limit")
	page := filepath.Join(t.TempDir(), "page.png")
	require.NoError(t, os.WriteFile(page, []byte("<!doctype html><script>alert(1)</script>"), 0o600))
	assert.Equal(t, "refused (415): the file is text/html, which is not taken here", throughForm.submit(t, browser, page, "page.png"), "a page named .png")
	assert.Equal(t, "refused (409): a file of that name exists", throughForm.submit(t, browser, file, "through.png"), "a name taken")

	// The link, opened: the image document renders under user_content's
	// sandbox.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(link)), "opening the user-content link")
	// Polled from here: chromedp.Poll's timers never fire in a document
	// whose scripts the sandbox turns off.
	assert.Eventually(t, func() bool {
		width, err = chromedp.Run(browser, chromedp.Evaluate[float64](`document.images.length > 0 && document.images[0].complete ? document.images[0].naturalWidth : 0`))
		return err == nil && width == 40
	}, 30*time.Second, 100*time.Millisecond, "the image on the user-content origin: naturalWidth %v, want 40", width)
	figure(t, "upload page in Chromium: a create-only upload straight to Azurite rendered (naturalWidth 40) through the redirect route and, sandboxed, on the user-content origin; a second upload refused 403; a name outside the prefix refused 400; screenshot %d bytes", len(screenshot))
}
