package caddymodule_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-azure-sas/caddy-azure-sas/testdata/azurite"
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
// container token; names Azure cannot hold get our 400.
func TestOddBlobNamesAgainstAzurite(t *testing.T) {
	az := azurite.Start(t)
	az.CreateContainer(t, "odd", false)
	content := make(map[string][]byte, len(oddBlobNames))
	for i, name := range oddBlobNames {
		if content[name] != nil {
			t.Fatalf("%q is twice in the table", name)
		}
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

	if len(oddBlobNames) < 40 {
		t.Fatalf("only %d odd names", len(oddBlobNames))
	}
	for _, scope := range []string{"/b", "/c"} {
		for _, name := range oddBlobNames {
			path := scope + "/" + azurite.EscapeBlobPath(name)
			resp, body := fetch(t, tester, http.MethodGet, path)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content[name]) {
				t.Errorf("GET %s (%.60q): %d %.60q, want 200 %.60q", path[:min(len(path), 80)], name, resp.StatusCode, body, content[name])
			}
		}
		for _, path := range unholdableBlobPaths {
			resp, body := fetch(t, tester, http.MethodGet, scope+path)
			if resp.StatusCode != http.StatusBadRequest || string(body) != "error 400" {
				t.Errorf("GET %.80s: %d %q, want our 400", scope+path, resp.StatusCode, body)
			}
		}
	}
	figure(t, "%d odd blob names served from Azurite in blob and container scope, byte-exact; %d names Azure cannot hold answered 400 by us",
		len(oddBlobNames), len(unholdableBlobPaths))
}
