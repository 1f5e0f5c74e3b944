// Package blobnames holds the blob names the tests of this module try:
// names a media library meets, which must reach Azure and come back
// byte-exact, and request paths naming blobs Azure cannot hold. Tests read
// them against Azurite, and the fuzz targets start from them.
//
// The package is internal to this module, for tests only.
package blobnames

import "strings"

// Odd are names a media library meets, each a distinct blob.
var Odd = []string{
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

// Unholdable are request paths naming blobs Azure cannot hold or
// would read as another name: we answer 400 ourselves, Azure is not asked.
var Unholdable = []string{
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
