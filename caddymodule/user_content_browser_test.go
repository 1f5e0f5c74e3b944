package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// browserWatch records, for a Chromium context, what the pages it opens
// write to the console and which URLs become downloads (denied, so
// nothing is written to disk).
type browserWatch struct {
	mu        sync.Mutex
	console   []string
	downloads []string
}

func watchBrowser(t *testing.T, ctx context.Context) *browserWatch {
	t.Helper()
	w := &browserWatch{}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			w.mu.Lock()
			for _, arg := range e.Args {
				w.console = append(w.console, string(arg.Value))
			}
			w.mu.Unlock()
		}
	}))
	require.NoError(t, chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadWillBegin); ok {
			w.mu.Lock()
			w.downloads = append(w.downloads, e.URL)
			w.mu.Unlock()
		}
	}))
	eventsEnabled := true
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorDeny, EventsEnabled: &eventsEnabled})
	require.NoError(t, err, "denying downloads")
	return w
}

// saw reports whether the console showed text, and how many downloads
// began whose URL starts with urlPrefix.
func (w *browserWatch) saw(text, urlPrefix string) (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	shown := false
	for _, line := range w.console {
		shown = shown || strings.Contains(line, text)
	}
	downloads := 0
	for _, u := range w.downloads {
		if strings.HasPrefix(u, urlPrefix) {
			downloads++
		}
	}
	return shown, downloads
}

// TestUploadedScriptNeverRunsInChromium: a user of the demo uploads, with
// a create URL from /sas, an SVG and an HTML page that hold script, with a
// year-long Cache-Control, as the security review did. Opened straight
// from the storage account they run; opened through the demo's routes,
// on the user-content origin (user_content, proxied) and on the page's
// own origin (a redirect with the headers signed in), they become
// downloads and nothing runs. A video still plays under the sandbox.
func TestUploadedScriptNeverRunsInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	az, content := demoSite(t)
	video, err := os.ReadFile("../testdata/media/video/clip.webm")
	require.NoError(t, err)
	uploads := []upload{
		{"evil.svg", "image/svg+xml", "public, max-age=31536000, immutable", "inline",
			[]byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>console.log("evil.svg ran on " + location.origin)</script></svg>`)},
		{"evil.html", "text/html", "", "", []byte(`<!doctype html><script>console.log("evil.html ran on " + location.origin)</script>`)},
		{"clip.webm", "video/webm", "", "", video},
	}
	for _, u := range uploads {
		status, answer := askURL(t, http.MethodPost, "/sas", "demo", `{"blob": "`+u.name+`", "permissions": "c"}`)
		require.Equal(t, http.StatusOK, status, "/sas for %s: %s", u.name, answer.Error)
		putWithHeaders(t, answer.URL, u)
	}

	ctx := browserAs(t, chromium, "demo")
	watch := watchBrowser(t, ctx)

	// Straight from the storage account, as stored: the script runs. This
	// shows that the test sees a script that runs.
	key, err := sas.NewSharedKey(az.Account, az.Key)
	require.NoError(t, err)
	for _, name := range []string{"evil.svg", "evil.html"} {
		v := sas.ServiceValues{Permissions: sas.PermRead, Container: "uploads", Blob: "users/demo/" + name, Expiry: time.Now().Add(time.Minute)}
		token, err := v.Sign(key)
		require.NoError(t, err)
		addSecret("a read token for "+name, token.Encode())
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(az.BlobURL("uploads", "users/demo/"+name)+"?"+token.Encode())), "opening %s from Azurite", name)
		require.Eventually(t, func() bool { ran, _ := watch.saw(name+" ran", ""); return ran }, 10*time.Second, 50*time.Millisecond,
			"%s served as stored: its script never ran, so this test could not see one run", name)
	}

	// Through the demo's routes: a download, and no script.
	for _, name := range []string{"evil.svg", "evil.html"} {
		for _, route := range []struct{ url, downloadFrom string }{
			{content + "/view/" + name, content + "/view/" + name},
			{testSite + "/get/" + name, az.Endpoint + "/uploads/users/demo/" + name + "?"},
		} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
			_, before := watch.saw("", route.downloadFrom)
			// A download aborts the navigation (net::ERR_ABORTED), and no
			// load event comes to wait for.
			navigate, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = chromedp.Do(navigate, chromedp.Navigate(route.url))
			cancel()
			require.Eventually(t, func() bool { _, n := watch.saw("", route.downloadFrom); return n > before }, 10*time.Second, 50*time.Millisecond,
				"%s: the navigation did not become a download", route.url)
			url, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
			require.NoError(t, err)
			assert.Equal(t, "about:blank", url, "%s: a page was opened for it", route.url)
		}
	}
	// The runs above logged from Azurite's origin, 127.0.0.1; Caddy's
	// origins are localhost's.
	ran, _ := watch.saw(" ran on http://localhost", "")
	assert.False(t, ran, "a script ran on an origin of Caddy's")

	// Media still work in the sandbox: the video document loads the clip.
	// Its range requests carry the credentials as a browser's do once the
	// user has logged in (DevTools answering each challenge, as browserAs
	// does, stalls media requests).
	player := browserWithCredentials(t, chromium, "demo", "demo-password")
	require.NoError(t, chromedp.Do(player, chromedp.Navigate(content+"/view/clip.webm")), "opening the video")
	// Polled from here: chromedp.Poll's timers never fire in a document
	// whose scripts the sandbox turns off.
	assert.Eventually(t, func() bool {
		width, err := chromedp.Run(player, chromedp.Evaluate[float64](`(v => v === null || v.readyState < 1 ? 0 : v.videoWidth)(document.querySelector("video"))`))
		return err == nil && width > 0
	}, 30*time.Second, 100*time.Millisecond, "the video on the user-content origin never loaded")
	figure(t, "user_content in Chromium: an uploaded SVG and HTML page ran their script when opened from the storage account as stored, "+
		"and became downloads with no script run through the user-content origin and the signed redirect; a video loaded under the sandbox")
}

// browserWithCredentials opens a headless Chromium that sends user's
// basic_auth credentials with every request.
func browserWithCredentials(t *testing.T, chromium, user, password string) context.Context {
	t.Helper()
	ctx := newBrowser(t, chromium)
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err, "starting Chromium")
	_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}})
	require.NoError(t, err, "setting the credentials")
	return ctx
}

// putWithHeaders uploads u with an issued create URL, storing the headers
// the uploader chose, as the security review did.
func putWithHeaders(t *testing.T, location string, u upload) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, location, bytes.NewReader(u.body))
	require.NoError(t, err)
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.Header.Set("x-ms-version", sas.DefaultVersion)
	for name, value := range map[string]string{"x-ms-blob-content-type": u.contentType, "x-ms-blob-cache-control": u.cacheControl,
		"x-ms-blob-content-disposition": u.disposition} {
		if value != "" {
			req.Header.Set(name, value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "uploading %s", u.name)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "uploading %s", u.name)
}
