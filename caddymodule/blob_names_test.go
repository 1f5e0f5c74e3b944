package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-azure-sas/caddy-azure-sas/internal/azurite"
)

// oddBlobNames are names a media library meets, each a distinct blob.
var oddBlobNames = []string{
	"space name.jpg",
	"  two leading spaces.txt",
	"trailing space .txt",
	"café.txt",       // é as one code point (NFC)
	"cafe\u0301.txt", // e + combining acute (NFD): another blob
	"日本語/ファイル.png",   // unicode folders
	"emoji-😀🎬.mp4",
	"flag-🇫🇷.txt",
	"zero\u200bwidth.txt",
	"rtl-שלום.txt",
	"a+b.txt",
	"plus+and space.txt",
	"literal%20.txt",
	"100%.txt",
	"%zz bad escape.txt",
	"%2e%2e/x.txt", // a literal name, not a dot segment
	"slash%2Fescaped.txt",
	"hash#tag.txt",
	"question?.txt",
	"semi;colon.txt",
	"amp&ersand.txt",
	"equals=sign.txt",
	"apos'trophe.txt",
	`quote".txt`,
	"<angle>.txt",
	"tilde~.txt",
	"comma,name.txt",
	"brackets[1].txt",
	"braces{x}.txt",
	"pipe|name.txt",
	"caret^.txt",
	"backtick`.txt",
	"at@sign.txt",
	"dollar$.txt",
	"colon:name.txt",
	"star*.txt",
	"paren(1).txt",
	"bang!.txt",
	"UPPER.TXT",
	"upper.txt", // names are case-sensitive
	"a..b",
	"trailing.dot.",
	"trailing.dot", // not the same blob as the one with the dot
	".hidden",
	"a/.../b.txt",
	"dir//double/slash.txt",
	"dir/double/slash.txt", // not the same blob as the one with "//"
	"-dash",
	"deep/" + strings.Repeat("level/", 40) + "leaf.txt",
	"long/" + strings.Repeat("n", 1024-len("long/")),
	"long-unicode/" + strings.Repeat("é", 1024-len("long-unicode/")), // 1024 characters, more bytes
}

// unholdableBlobPaths are request paths naming blobs Azure cannot hold or
// would read as another name: we answer 400 ourselves, Azure is not asked.
var unholdableBlobPaths = []string{
	"/" + strings.Repeat("n", 1025),
	"/" + strings.Repeat("é", 1025),
	"/" + strings.Repeat("d/", 254) + "x",
	"/a%00b",
	"/tab%09name",
	"/line%0D%0Abreak",
	"/c1%C2%85control",
	"/del%7F",
	"/a%5Cb",
	"/bad%FFutf8",
}

// TestOddBlobNamesAgainstAzurite uploads every odd name to Azurite and reads
// each back byte-exact through Caddy, with a token per blob and with one
// container token; names Azure cannot hold get our 400, without asking it.
func TestOddBlobNamesAgainstAzurite(t *testing.T) {
	require.GreaterOrEqual(t, len(oddBlobNames), 40, "odd names")
	az := azurite.Start(t)
	az.CreateContainer(t, "odd", false)
	content := make(map[string][]byte, len(oddBlobNames))
	for i, name := range oddBlobNames {
		require.NotContains(t, content, name, "a name is twice in the table")
		content[name] = fmt.Appendf(nil, "blob %d: %s", i, name)
		az.Upload(t, "odd", name, content[name], "application/octet-stream")
	}
	t.Setenv("AZ_TEST_KEY", az.Key)

	tester := startCaddy(t, caddyGlobals+fmt.Sprintf(`
http://localhost:9080 {
	azure_blob /b/* {
		strip_prefix /b
		endpoint %[1]s
		container odd
		account_key {env.AZ_TEST_KEY}
	}
	azure_blob /c/* {
		strip_prefix /c
		endpoint %[1]s
		container odd
		account_key {env.AZ_TEST_KEY}
		scope container
	}
	handle_errors {
		respond "error {err.status_code}"
	}
}`, az.Endpoint))

	for _, scope := range []string{"/b", "/c"} {
		for _, name := range oddBlobNames {
			path := scope + "/" + azurite.EscapeBlobPath(name)
			resp, body := fetch(t, tester, http.MethodGet, path)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s (%.60q)", path[:min(len(path), 80)], name)
			assert.Equal(t, string(content[name]), string(body), "GET %s (%.60q)", path[:min(len(path), 80)], name)
		}
		for _, path := range unholdableBlobPaths {
			resp, body := fetch(t, tester, http.MethodGet, scope+path)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "GET %.80s, want our 400", scope+path)
			assert.Equal(t, "error 400", string(body), "GET %.80s, want our 400", scope+path)
		}
	}
	// Azure is not asked for the names it cannot hold: Azurite's access log
	// shows one GET per odd name and scope, and none else. It logs a request
	// when it answers, so a last request, once logged, marks the end of the
	// lines of those before it.
	resp, _ := fetch(t, tester, http.MethodGet, "/b/"+azurite.EscapeBlobPath(oddBlobNames[0]))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the last request")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		gets := strings.Count(az.Output(1<<20), `"GET /`+az.Account+`/odd/`)
		assert.Equal(c, 2*len(oddBlobNames)+1, gets, "GETs Azurite logged")
	}, 5*time.Second, 50*time.Millisecond)
	figure(t, "%d odd blob names served from Azurite in blob and container scope, byte-exact; %d names Azure cannot hold answered 400 by us",
		len(oddBlobNames), len(unholdableBlobPaths))
}
