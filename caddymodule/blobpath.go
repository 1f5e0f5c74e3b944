package caddymodule

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Azure's limits on a blob name: characters, and '/'-separated segments.
const (
	maxBlobNameChars    = 1024
	maxBlobNameSegments = 254
)

// Reasons a request path cannot name a blob. They are safe to show to
// clients: they quote nothing from the request.
var (
	errNotAPath       = errors.New("request path does not start with /")
	errNoBlobName     = errors.New("request path names no blob")
	errDotSegment     = errors.New(`blob name has a "." or ".." segment`)
	errControlChar    = errors.New("blob name has a control character")
	errBackslash      = errors.New(`blob name has a backslash, which Azure reads as "/"`)
	errInvalidUTF8    = errors.New("blob name is not valid UTF-8")
	errBlobNameLength = errors.New("blob name is longer than Azure's 1024 characters")
	errTooManyLevels  = errors.New("blob name has more than Azure's 254 path segments")
)

// blobName maps a decoded request path to a blob name: prefix + the path
// without its leading '/'. It refuses what Azure cannot hold or would read
// differently: dot segments (Azure and clients resolve them), control
// characters (C0 and C1: Azure refuses them even escaped), backslashes
// (Azure turns them into '/'), bad UTF-8, names over 1024 characters and
// names of more than 254 segments. A name ending in '/' is errNoBlobName:
// it is a folder, not a blob.
func blobName(prefix, path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", errNotAPath
	}
	name := prefix + path[1:]
	if name == "" || strings.HasSuffix(name, "/") {
		return "", errNoBlobName
	}
	if err := checkURLSafeBlobName(name); err != nil {
		return "", err
	}
	return name, nil
}

// checkURLSafeBlobName applies blobName's rules to a whole name: Azure's
// (those of sas.CheckBlobName, with errors safe to show a client) and those
// of a name that must reach Azure through a URL path unchanged (no dot
// segments, no backslash, at most 254 segments). The signer checks Azure's
// alone.
func checkURLSafeBlobName(name string) error {
	if !utf8.ValidString(name) {
		return errInvalidUTF8
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < 0x20 || c == 0x7f:
			return errControlChar
		case c == '\\':
			return errBackslash
		}
	}
	segments := 0
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return errDotSegment
		}
		segments++
	}
	chars := 0
	for _, r := range name {
		if r >= 0x80 && r <= 0x9f { // C1 controls
			return errControlChar
		}
		chars++
	}
	if chars > maxBlobNameChars {
		return errBlobNameLength
	}
	if segments > maxBlobNameSegments {
		return errTooManyLevels
	}
	return nil
}

// mappedBlob is the blob a request reads.
type mappedBlob struct {
	container, name string
	private         bool // the name depends on who asks: answers are for the client's cache only
	configured      bool // the configuration named the container, not the client's path
}

// mapping is how the azure_blob handler mapped a request's path to the
// one it rewrote it to, /container/name, for the transport to read: the
// name itself travels in the path alone.
type mapping struct {
	private bool // the prefix depends on who asks
}

// varMapping holds the mapping of the request, set by the azure_blob
// handler.
const varMapping = "azure_blob.mapping"

// splitBlobPath reads the container and blob name back from a decoded
// upstream path below base; blob is "" for a container-level path.
func splitBlobPath(base, path string) (container, blob string, ok bool) {
	rest, found := strings.CutPrefix(path, base+"/")
	if !found {
		return "", "", false
	}
	container, blob, _ = strings.Cut(rest, "/")
	return container, blob, container != ""
}
