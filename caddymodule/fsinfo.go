package caddymodule

import (
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

// blobInfo describes a blob or a folder of a Filesystem: it is both the
// fs.FileInfo of Stat and the fs.DirEntry of a listing.
type blobInfo struct {
	name    string
	size    int64
	modTime time.Time
	etag    string // the version a read is tied to, as Azure quotes it
	dir     bool
}

// missingInfo stands, in the metadata cache, for a name that is neither a
// blob nor a folder.
var missingInfo = &blobInfo{}

// blobInfoOf is the description of blob name from Azure's answer to a
// HEAD or GET of it.
func blobInfoOf(name string, h http.Header) (*blobInfo, error) {
	size, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("the storage origin gave no length for %s", name)
	}
	modTime, _ := http.ParseTime(h.Get("Last-Modified")) // zero when missing: file_server then sends none
	return &blobInfo{name: name, size: size, modTime: modTime, etag: h.Get("ETag")}, nil
}

// Name is the last element of the path.
func (i *blobInfo) Name() string { return i.name }

// Size is the blob's length in bytes; 0 for a folder.
func (i *blobInfo) Size() int64 { return i.size }

// Mode says a folder from a file; both are read-only.
func (i *blobInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

// ModTime is the blob's Last-Modified; zero for a folder, which has none.
func (i *blobInfo) ModTime() time.Time { return i.modTime }

// IsDir reports whether it is a folder.
func (i *blobInfo) IsDir() bool { return i.dir }

// Sys is nil: there is nothing below the description.
func (i *blobInfo) Sys() any { return nil }

// Type is the type bits of Mode, for a listing.
func (i *blobInfo) Type() fs.FileMode { return i.Mode().Type() }

// Info is itself, for a listing.
func (i *blobInfo) Info() (fs.FileInfo, error) { return i, nil }

// weight is about what it holds in the metadata cache, in bytes, with its
// key.
func (i *blobInfo) weight(key string) uint32 {
	return uint32(len(key) + len(i.name) + len(i.etag) + 96)
}
