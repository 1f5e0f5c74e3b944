package caddymodule_test

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// TestREADMEFrontDoorRecipeLocksTheOrigin runs README's recipe 2, the
// origin behind Azure Front Door, with its lock as written: the site
// address and the account are pointed at this test's Caddy and Azurite,
// and 127.0.0.1 stands in for Front Door's addresses. Only requests that
// carry the profile's X-Azure-FDID reach the blobs; any other, an empty
// header included and with AZURE_FDID unset, is cut off unanswered, and
// the health probe is answered without it.
func TestREADMEFrontDoorRecipeLocksTheOrigin(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	var recipe string
	for _, m := range caddyfileBlock.FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "X-Azure-FDID") {
			recipe = m[1]
		}
	}
	require.NotEmpty(t, recipe, "README shows the Front Door recipe")
	global := regexp.MustCompile(`(?s)^\{\n(.*?)\n\}\n`).FindStringSubmatch(recipe)
	require.NotNil(t, global, "the recipe starts with its global options:\n%s", recipe)
	site := strings.TrimPrefix(recipe, global[0])

	az := azurite.Start(t)
	az.CreateContainer(t, "photos", false)
	az.Upload(t, "photos", "cat.jpg", []byte("CAT"), "image/jpeg")
	site = strings.Replace(site, "origin.example.com {", testSite+" {", 1)
	site = strings.Replace(site, "account mystorage", "endpoint "+az.Endpoint, 1)
	require.Contains(t, site, testSite+" {")
	require.Contains(t, site, "endpoint "+az.Endpoint)

	const profile = "a5c5a4e1-0000-4000-8000-frontdoor1"
	t.Setenv("AZURE_STORAGE_KEY", az.Key)
	t.Setenv("AZURE_FDID", profile)
	t.Setenv("FRONT_DOOR_RANGES", "127.0.0.1/32 ::1/128")
	startCaddy(t, caddyGlobalsWith("\tgrace_period 1ns\n"+global[1]+"\n")+site)

	get := func(path string, header ...string) (*http.Response, []byte, error) {
		req, err := http.NewRequest(http.MethodGet, testSite+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header[header[i]] = []string{header[i+1]}
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		suiteSawResponse(resp, body)
		return resp, body, err
	}

	resp, body, err := get("/cat.jpg", "X-Azure-FDID", profile)
	require.NoError(t, err, "Front Door's request")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "CAT", string(body))

	resp, _, err = get("/healthz")
	require.NoError(t, err, "the health probe")
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cutOff := func(why string, header ...string) {
		t.Helper()
		resp, _, err := get("/cat.jpg", header...)
		if assert.Error(t, err, "%s: cut off unanswered", why) {
			return
		}
		t.Errorf("%s: answered %d", why, resp.StatusCode)
	}
	cutOff("no X-Azure-FDID")
	cutOff("another profile's X-Azure-FDID", "X-Azure-FDID", "another-profile")
	cutOff("an empty X-Azure-FDID", "X-Azure-FDID", "")

	// AZURE_FDID unset: {env.AZURE_FDID} is read per request, and the lock
	// stays closed to everyone rather than open to an empty header.
	require.NoError(t, os.Unsetenv("AZURE_FDID"))
	cutOff("an empty X-Azure-FDID while AZURE_FDID is unset", "X-Azure-FDID", "")
	cutOff("Front Door's profile while AZURE_FDID is unset", "X-Azure-FDID", profile)
}
