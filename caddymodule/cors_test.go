package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// accessControl is the Access-Control-* headers of resp and its Vary.
func accessControl(resp *http.Response) map[string]string {
	out := map[string]string{}
	for name := range resp.Header {
		if strings.HasPrefix(name, "Access-Control-") || name == "Vary" {
			out[name] = strings.Join(resp.Header.Values(name), ", ")
		}
	}
	return out
}

// TestCORSAgainstAzurite: azure_blob with cors answers the preflights of
// the origins it lists and lets their pages read every answer, 206, 304,
// 404 and redirects included; an origin it does not list gets no
// Access-Control-* header. azure_sas with cors lets a listed origin's page
// ask for URLs, by GET, form or JSON, and still refuses another site's.
func TestCORSAgainstAzurite(t *testing.T) {
	const app, other = "https://app.example.com", "https://evil.example.net"
	az := azurite.Start(t)
	az.CreateContainer(t, "media", false)
	az.Upload(t, "media", "clip.mp4", []byte("0123456789"), "video/mp4")
	t.Setenv("AZ_TEST_KEY", az.Key)
	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:{$TEST_PORT} {
	azure_blob /media/* {
		strip_prefix /media
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		cors %[2]s http://localhost:7000
		fallback {
			container media
			prefix archive/
		}
	}
	azure_blob /r/* {
		strip_prefix /r
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		redirect
		cors *
	}
	azure_sas /sas {
		endpoint %[1]s
		container media
		account_key {env.AZ_TEST_KEY}
		permissions r c
		cors %[2]s
	}
	# As docs/azure_sas.md writes it: authentication in the same route.
	route /auth/sas {
		basic_auth {
			alice %[3]s
		}
		%[4]s
	}
	# And keeping authentication off preflights, for a JSON POST.
	route /preflight/sas {
		@notPreflight not method OPTIONS
		basic_auth @notPreflight {
			alice %[3]s
		}
		%[4]s
	}
}`, az.Endpoint, app, passwordHash(t, "alice-password"), fmt.Sprintf(`azure_sas {
			endpoint %s
			container media
			account_key {env.AZ_TEST_KEY}
			permissions r c
			cors %s
		}`, az.Endpoint, app)))

	// A preflight from the page's origin, and from another.
	resp, body := fetch(t, tester, http.MethodOptions, "/media/clip.mp4", "Origin", app,
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a listed origin's preflight")
	assert.Empty(t, body)
	assert.Equal(t, map[string]string{
		"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods": "GET, HEAD",
		"Access-Control-Allow-Headers": "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range",
		"Access-Control-Max-Age":       "3600",
		"Vary":                         "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
	}, accessControl(resp), "a listed origin's preflight")
	resp, _ = fetch(t, tester, http.MethodOptions, "/media/clip.mp4", "Origin", other, "Access-Control-Request-Method", "GET")
	assert.Equal(t, map[string]string{"Vary": "Origin"}, accessControl(resp), "another origin's preflight")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "another origin's preflight")

	// Answers to the listed origin carry what lets its page read them.
	readable := map[string]string{
		"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified",
		"Vary":                          "Origin",
	}
	resp, body = fetch(t, tester, http.MethodGet, "/media/clip.mp4", "Origin", app)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "0123456789", string(body))
	assert.Equal(t, readable, accessControl(resp), "200")
	etag := resp.Header.Get("ETag")
	for what, header := range map[string][]string{
		"206": {"Range", "bytes=2-5"},
		"304": {"If-None-Match", etag},
		"404": nil,
	} {
		path := "/media/clip.mp4"
		if what == "404" {
			path = "/media/missing.mp4" // through the fallback, to the 404 error
		}
		resp, _ := fetch(t, tester, http.MethodGet, path, append([]string{"Origin", app}, header...)...)
		assert.Equal(t, what, fmt.Sprint(resp.StatusCode), "GET %s", path)
		assert.Equal(t, readable, accessControl(resp), "%s", what)
	}
	resp, _ = fetch(t, tester, http.MethodGet, "/media/clip.mp4", "Origin", other)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another origin's read is served")
	assert.Equal(t, map[string]string{"Vary": "Origin"}, accessControl(resp), "but not readable by its page")
	resp, _ = fetch(t, tester, http.MethodGet, "/media/clip.mp4")
	assert.Equal(t, map[string]string{"Vary": "Origin"}, accessControl(resp), "a request without Origin")

	// A redirect with cors *: no credentials, no Vary.
	noRedirect := *tester.Client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodGet, testSite+"/r/clip.mp4", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", other)
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode, "the redirect")
	assert.Equal(t, map[string]string{"Access-Control-Allow-Origin": "*",
		"Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"}, accessControl(resp), "the redirect")

	// azure_sas: the listed origin's page asks, by GET, a form and JSON.
	resp, _ = fetch(t, tester, http.MethodOptions, "/sas", "Origin", app, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "azure_sas: a preflight")
	assert.Equal(t, "GET, POST", resp.Header.Get("Access-Control-Allow-Methods"), "azure_sas: a preflight")
	assert.Equal(t, "Content-Type", resp.Header.Get("Access-Control-Allow-Headers"), "azure_sas: a preflight")
	sasRequest := func(method, origin, contentType, body string) (*http.Response, string) {
		req, err := http.NewRequest(method, testSite+"/sas", strings.NewReader(body))
		require.NoError(t, err)
		if method == http.MethodGet {
			req.URL.RawQuery = body
			req.Body, req.ContentLength = nil, 0
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := tester.Client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(answer) // an issued URL holds a token: it is not for the leak search
	}
	for _, tc := range []struct{ what, method, contentType, body string }{
		{"GET", http.MethodGet, "", url.Values{"blob": {"clip.mp4"}}.Encode()},
		{"a form", http.MethodPost, "application/x-www-form-urlencoded", url.Values{"blob": {"new.mp4"}, "permissions": {"c"}}.Encode()},
		{"JSON", http.MethodPost, "application/json", `{"blob": "new.mp4", "permissions": "c"}`},
	} {
		resp, answer := sasRequest(tc.method, app, tc.contentType, tc.body)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "azure_sas, %s from the listed origin: %s", tc.what, answer)
		assert.Contains(t, answer, `"url":"`, "azure_sas, %s from the listed origin", tc.what)
		assert.Equal(t, app, resp.Header.Get("Access-Control-Allow-Origin"), "azure_sas, %s from the listed origin", tc.what)
		assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"), "azure_sas, %s from the listed origin", tc.what)
		resp, answer = sasRequest(tc.method, other, tc.contentType, tc.body)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "azure_sas, %s from another site: %s", tc.what, answer)
		assert.NotContains(t, answer, "sig=", "azure_sas, %s from another site", tc.what)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "azure_sas, %s from another site", tc.what)
	}
	resp, answer := sasRequest(http.MethodPost, app, "application/x-www-form-urlencoded", "blob=a&blob=b")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a form with a field twice: %s", answer)

	// Behind basic_auth in the same route: a form from the listed origin,
	// with the credentials a browser remembers, needs no preflight; a
	// preflight, sent without credentials, is answered only where
	// authentication lets it through.
	form := url.Values{"blob": {"new.mp4"}, "permissions": {"c"}}.Encode()
	req, err = http.NewRequest(http.MethodPost, testSite+"/auth/sas", strings.NewReader(form))
	require.NoError(t, err)
	req.SetBasicAuth("alice", "alice-password")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", app)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = tester.Client.Do(req)
	require.NoError(t, err)
	answerBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a form behind basic_auth: %s", answerBody)
	assert.Equal(t, app, resp.Header.Get("Access-Control-Allow-Origin"), "a form behind basic_auth")
	resp, _ = fetch(t, tester, http.MethodOptions, "/auth/sas", "Origin", app, "Access-Control-Request-Method", "POST")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a preflight, where basic_auth takes every method")
	resp, _ = fetch(t, tester, http.MethodOptions, "/preflight/sas", "Origin", app, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a preflight, where basic_auth lets OPTIONS through")
	assert.Equal(t, app, resp.Header.Get("Access-Control-Allow-Origin"), "a preflight, where basic_auth lets OPTIONS through")
	resp, _ = fetch(t, tester, http.MethodPost, "/preflight/sas", "Origin", app, "Content-Type", "application/json")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a POST without credentials, where basic_auth lets OPTIONS through")
}

// TestCORSRefusesWhatIsNoOrigin: cors takes origins as browsers send them,
// or * alone, and never * where credentials are sent (azure_sas); a
// fallback does not take it.
func TestCORSRefusesWhatIsNoOrigin(t *testing.T) {
	for block, want := range map[string]string{
		"azure_sas {\n\t\tcors *":                                       "cors: azure_sas answers authenticated requests",
		"azure_blob {\n\t\tcors https://App.example.com":                "write the origin as a browser sends it",
		"azure_blob {\n\t\tcors https://app.example.com/":               "write the origin as a browser sends it",
		"azure_blob {\n\t\tcors https://app.example.com/page":           "is not an origin",
		"azure_blob {\n\t\tcors app.example.com":                        "is not an origin",
		"azure_blob {\n\t\tcors * https://app.example.com":              "* stands alone",
		"azure_blob {\n\t\tcors":                                        "wrong argument count",
		"azure_blob {\n\t\tfallback {\n\t\t\tcors *\n\t\t}\n\t\tcors *": "cors belongs to the azure_blob block, not to a fallback",
	} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n\t"+block+`
		container media
		account mystorage
		account_key {env.AZURE_STORAGE_KEY}
	}
}
`), nil)
		if assert.Error(t, err, "%s", block) {
			assert.Contains(t, err.Error(), want, "%s", block)
		}
	}
}
