package cluster_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/cluster"
	"github.com/caddy-azure-sas/caddy-azure-sas/internal/figures"
)

// noRedirects is a client that hands back redirects instead of following
// them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// redirectsPiped: the Caddyfile's redirect route (/dl/) answers through
// the shield with a redirect to Azure whose token works; the VCL pipes it,
// so Varnish never looks it up (no hit, no miss) and its Location stays
// out of Varnish's log (the last subtest searches it).
func (d *deployment) redirectsPiped(t *testing.T) {
	jpeg := randomBytes(t, 3000)
	d.az.Upload(t, "photos", "downloads/sunset.jpg", jpeg, "image/jpeg")
	for _, query := range []string{"?v=1", "?v=2"} {
		resp, body := redirected(t, d.shield.URL+"/dl/downloads/sunset.jpg"+query)
		assert.Equal(t, http.StatusFound, resp.StatusCode, query)
		assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), d.az.BlobURL("photos", "downloads/sunset.jpg")+"?"), "%s: to the blob at Azurite", query)
		assert.Empty(t, resp.Header.Get("X-Cache"), "%s: piped, so Varnish delivered nothing of its own", query)
		assert.Equal(t, jpeg, body, "%s: the blob, read with the token in Location", query)
	}
	log := logged(t, d.shield, `ReqURL ~ "^/dl/downloads/sunset.jpg"`, 2)
	pipes := len(regexp.MustCompile(`VCL_call +PIPE`).FindAllString(log, -1))
	lookups := len(regexp.MustCompile(`VCL_call +(HIT|MISS|PASS)`).FindAllString(log, -1))
	assert.Equal(t, 2, pipes, "both requests were piped")
	assert.Zero(t, lookups, "the cache was looked up for them")
	figures.Report(t, "two requests for /dl/downloads/sunset.jpg with different query strings: two 302 to Azurite whose tokens read the blob; %d piped, %d cache lookups", pipes, lookups)
}

// unpipedRedirect: a redirect route the VCL does not list (/unlisted/) is
// still never kept, as the uncacheable rule for a Location with sig=
// says: the second request meets a hit-for-miss and goes to a node. Its
// Location, token included, is in Varnish's log then, unless varnishd
// runs with vsl_mask=-BerespHeader,-RespHeader. Each run asks a shield of
// its own in front of the same nodes, so that the deployment's shield
// never logs a token.
func (d *deployment) unpipedRedirect(t *testing.T) {
	jpeg := randomBytes(t, 3000)
	d.az.Upload(t, "photos", "unlisted/sunset.jpg", jpeg, "image/jpeg")
	for _, masked := range []bool{false, true} {
		var params []string
		if masked {
			params = []string{"vsl_mask=-BerespHeader,-RespHeader"}
		}
		shield := cluster.StartShield(t, d.nodes, params...)
		var caches []string
		for _, query := range []string{"?v=1", "?v=2"} {
			resp, body := redirected(t, shield.URL+"/unlisted/unlisted/sunset.jpg"+query)
			assert.Equal(t, http.StatusFound, resp.StatusCode, query)
			assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), d.az.BlobURL("photos", "unlisted/sunset.jpg")+"?"), "%s: to the blob at Azurite", query)
			assert.Equal(t, jpeg, body, "%s: the blob, read with the token in Location", query)
			caches = append(caches, resp.Header.Get("X-Cache"))
		}
		assert.Equal(t, []string{"miss", "miss"}, caches, "masked %t: the redirect was kept", masked)
		log := logged(t, shield, `ReqURL ~ "^/unlisted/"`, 2)
		hitMisses := len(regexp.MustCompile(`HitMiss +\d`).FindAllString(log, -1))
		assert.Equal(t, 1, hitMisses, "masked %t: the second request met the hit-for-miss object", masked)
		tokens := strings.Count(log, "sig=")
		if masked {
			assert.Zero(t, tokens, "vsl_mask=-BerespHeader,-RespHeader keeps Location out of varnishlog")
		} else {
			assert.Positive(t, tokens, "an unpiped redirect's Location is in varnishlog, as docs/deploying.md says")
		}
		figures.Report(t, "vsl_mask masked %t: X-Cache %v, %d hit-for-miss, %d sig= in varnishlog", masked, caches, hitMisses, tokens)
	}
}

// redirected asks url for a redirect, without following it, and reads the
// blob at its Location.
func redirected(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirects.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	location := resp.Header.Get("Location")
	require.Contains(t, location, "sig=", "%s: a redirect with a token", url)
	blob, body := azurite.Fetch(t, http.MethodGet, location, nil)
	require.Equal(t, http.StatusOK, blob.StatusCode, "%s: the token in Location works", url)
	return resp, body
}

// logged is what shield's log holds of the requests query matches, once
// it holds n of them: Varnish writes a request's records when it ends,
// which may come after the client has its answer.
func logged(t *testing.T, shield *cluster.Shield, query string, n int) string {
	t.Helper()
	var log string
	require.Eventually(t, func() bool {
		log = shield.Transactions(t, query)
		return strings.Count(log, "<< Request  >>") >= n
	}, 10*time.Second, 50*time.Millisecond, "varnishlog does not show %d requests for %s", n, query)
	return log
}
