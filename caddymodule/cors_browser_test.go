package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// evaluate runs a script that returns a promise in the page of ctx and
// decodes what it resolves to into out.
func evaluate(t *testing.T, ctx context.Context, script string, out any) {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](script, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "evaluating %.80s", script)
	require.NoError(t, json.Unmarshal(raw, out), "evaluating %.80s", script)
}

// TestCORSAndSitesInChromium drives Debian's Chromium at azure_blob with
// cors and at file_server over the filesystem: a page of a listed origin
// reads a range of a blob of another origin, plays and seeks a
// <video crossorigin>, and reads back a canvas it drew an image of that
// origin into; a page of an origin that is not listed is refused by the
// browser; a container's listing renders and its links open folders and
// files; a single-page app loads from a deep link; and a page of a listed
// origin asks azure_sas, behind basic_auth in the same route, for an
// upload URL with the credentials the browser remembers, and uploads with
// it.
func TestCORSAndSitesInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	az := azurite.Start(t)
	az.CreateContainer(t, "media", false)
	az.CreateContainer(t, "site", false)
	az.CreateContainer(t, "uploads", false)
	for name, file := range map[string]string{"clip.webm": "../testdata/media/video/clip.webm", "pattern.png": "../testdata/media/images/pattern.png"} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		az.Upload(t, "media", name, data, "")
	}
	az.Upload(t, "media", "text.txt", []byte("0123456789abcdefghijklmnopqrstuvwxyz"), "text/plain")
	for name, data := range map[string]string{
		"files/a.txt": "alpha", "files/sub/b.txt": "bravo",
		"app/index.html": `<!doctype html><title>app</title><p id=path></p><script>document.getElementById("path").textContent = location.pathname</script>`,
	} {
		az.Upload(t, "site", name, []byte(data), "")
	}
	app := fmt.Sprintf("http://localhost:%d", freePort(t))
	other := fmt.Sprintf("http://localhost:%d", freePort(t))
	az.AllowBrowsers(t, app) // the upload goes to the storage account's origin
	t.Setenv("AZ_TEST_KEY", az.Key)
	page := `respond "<!doctype html><title>a page</title>" 200 {
		close
	}
	header Content-Type "text/html; charset=utf-8"`
	startCaddy(t, caddyGlobalsWith("\tgrace_period 1ns\n"+fmt.Sprintf(`	filesystem site azure_blob {
		endpoint %s
		container site
		account_key {env.AZ_TEST_KEY}
	}
`, az.Endpoint))+fmt.Sprintf(`
%[2]s {
	%[4]s
}

%[3]s {
	%[4]s
}

http://localhost:{$TEST_PORT} {
	azure_blob /media/* {
		strip_prefix /media
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		cors %[2]s
	}
	route /auth/sas {
		basic_auth {
			alice %[5]s
		}
		azure_sas {
			endpoint %[1]s
			container uploads
			account_key {env.AZ_TEST_KEY}
			prefix users/{http.auth.user.id}/
			permissions r c
			cors %[2]s
		}
	}
	handle_path /site/* {
		fs site
		`+appAndBrowse+`
	}
}`, az.Endpoint, app, other, page, passwordHash(t, "alice-password")))

	browser := browserAs(t, chromium, "alice")
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(app+"/")), "opening the page of the listed origin")

	// A range of a blob, read by the page.
	var ranged struct {
		Status int    `json:"status"`
		Range  string `json:"range"`
		Body   string `json:"body"`
	}
	evaluate(t, browser, `fetch("`+testSite+`/media/text.txt", {headers: {Range: "bytes=10-19"}})
		.then(async r => ({status: r.status, range: r.headers.get("Content-Range"), body: await r.text()}))`, &ranged)
	assert.Equal(t, 206, ranged.Status, "the page's range request")
	assert.Equal(t, "bytes 10-19/36", ranged.Range, "the page reads Content-Range")
	assert.Equal(t, "abcdefghij", ranged.Body, "the range's bytes")

	// A video of the other origin, played and sought.
	var video struct {
		Time  float64 `json:"time"`
		Error string  `json:"error"`
	}
	evaluate(t, browser, `new Promise(resolve => {
		const v = document.createElement("video");
		v.crossOrigin = "anonymous";
		v.muted = true;
		v.onerror = () => resolve({time: -1, error: String(v.error && v.error.message || v.error && v.error.code)});
		v.onloadedmetadata = () => { v.currentTime = 2; };
		v.onseeked = () => v.play().then(() => resolve({time: v.currentTime, error: ""}), e => resolve({time: -1, error: String(e)}));
		v.src = "`+testSite+`/media/clip.webm";
		document.body.appendChild(v);
	})`, &video)
	assert.Empty(t, video.Error, "the video")
	assert.GreaterOrEqual(t, video.Time, 2.0, "the video played from where it was sought")

	// A canvas that drew an image of the other origin is not tainted.
	var canvas string
	evaluate(t, browser, `new Promise(resolve => {
		const img = new Image();
		img.crossOrigin = "anonymous";
		img.onerror = () => resolve("the image did not load");
		img.onload = () => {
			const c = document.createElement("canvas");
			c.width = img.width; c.height = img.height;
			const g = c.getContext("2d");
			g.drawImage(img, 0, 0);
			try { resolve("read " + g.getImageData(0, 0, 1, 1).data.length + " bytes"); } catch (e) { resolve(e.name); }
		};
		img.src = "`+testSite+`/media/pattern.png";
	})`, &canvas)
	assert.Equal(t, "read 4 bytes", canvas, "reading back the canvas")

	// The page asks azure_sas for an upload URL with a form, with the
	// credentials the browser remembers once the user has signed in there,
	// then uploads with it.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(testSite+"/auth/sas?blob=signin.txt")), "signing in")
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(app+"/")), "back to the page")
	var upload struct {
		Issued int    `json:"issued"`
		Put    int    `json:"put"`
		Error  string `json:"error"`
	}
	evaluate(t, browser, `(async () => {
		try {
			const r = await fetch("`+testSite+`/auth/sas", {method: "POST", credentials: "include",
				body: new URLSearchParams({blob: "from-the-page.txt", permissions: "c"})});
			if (!r.ok) return {issued: r.status, put: 0, error: await r.text()};
			const {url} = await r.json();
			const put = await fetch(url, {method: "PUT", headers: {"x-ms-blob-type": "BlockBlob"}, body: "uploaded by the page"});
			return {issued: r.status, put: put.status, error: ""};
		} catch (e) { return {issued: 0, put: 0, error: String(e)}; }
	})()`, &upload)
	assert.Equal(t, 200, upload.Issued, "azure_sas answered the page: %s", upload.Error)
	assert.Equal(t, 201, upload.Put, "the upload with the issued URL: %s", upload.Error)
	assert.Equal(t, "uploaded by the page", string(az.Download(t, "uploads", "users/alice/from-the-page.txt")), "the uploaded blob")

	// A page of an origin that is not listed: the browser refuses.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(other+"/")), "opening the page of another origin")
	var refused string
	evaluate(t, browser, `fetch("`+testSite+`/media/text.txt").then(r => "read " + r.status, e => e.name)`, &refused)
	assert.Equal(t, "TypeError", refused, "another origin's page read a blob")
	evaluate(t, browser, `fetch("`+testSite+`/auth/sas", {method: "POST", credentials: "include",
		body: new URLSearchParams({blob: "evil.txt", permissions: "c"})}).then(r => "read " + r.status, e => e.name)`, &refused)
	assert.Equal(t, "TypeError", refused, "another origin's page had a URL issued")

	// The container's listing, and its links.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(testSite+"/site/files/"),
		chromedp.Click(chromedp.CSS(`a[href="./sub/"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`a[href="./b.txt"]`)),
		chromedp.Click(chromedp.CSS(`a[href="./b.txt"]`), chromedp.NodeVisible)), "the listing's links")
	var text string
	assert.Eventually(t, func() bool {
		var err error
		text, err = chromedp.Run(browser, chromedp.Evaluate[string](`location.pathname + " " + document.body.innerText`))
		return err == nil && text == "/site/files/sub/b.txt bravo"
	}, 10*time.Second, 100*time.Millisecond, "the file the listing links: %q", text)

	// A deep link of the single-page app.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(testSite+"/site/app/users/42/settings"),
		chromedp.WaitVisible(chromedp.ID("path"))), "a deep link of the app")
	text, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("path")))
	require.NoError(t, err)
	assert.Equal(t, "/site/app/users/42/settings", text, "the app loaded from a deep link")
	figure(t, "in Chromium: a listed origin's page read a range, played and sought a video and read back a canvas from azure_blob with cors, "+
		"and had azure_sas (basic_auth in the same route) issue an upload URL it used; another origin's page was refused; "+
		"a listing's links and a single-page app's deep link worked through file_server over the filesystem")
}
