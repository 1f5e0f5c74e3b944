package caddymodule

import (
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A page of a listing is at most this big: 5,000 names of 1,024
// characters of up to four bytes each, with their properties.
const maxListingBytes = 32 << 20

// errIsFolder: a folder was read as a file.
var errIsFolder = errors.New("is a folder")

// listing is one page of a folder's entries, and the marker of the next
// page ("" for the last).
type listing struct {
	entries []fs.DirEntry
	next    string
}

// listResult is what Azure's List Blobs answers, as far as a listing
// needs it.
type listResult struct {
	Blobs struct {
		Blob []struct {
			Name       listedName `xml:"Name"`
			Properties struct {
				LastModified  string `xml:"Last-Modified"`
				Etag          string `xml:"Etag"`
				ContentLength int64  `xml:"Content-Length"`
			} `xml:"Properties"`
		} `xml:"Blob"`
		BlobPrefix []struct {
			Name listedName `xml:"Name"`
		} `xml:"BlobPrefix"`
	} `xml:"Blobs"`
	NextMarker string `xml:"NextMarker"`
}

// listedName is a name in a listing: Azure percent-encodes one that XML
// cannot carry, and says so (Encoded="true").
type listedName struct {
	Encoded bool   `xml:"Encoded,attr"`
	Value   string `xml:",chardata"`
}

// decode is the name as stored.
func (n listedName) decode() (string, error) {
	if !n.Encoded {
		return n.Value, nil
	}
	return url.PathUnescape(n.Value)
}

// decodeListing reads a page of the listing of the folder prefix: its
// blobs as files and its sub-prefixes as folders, named below prefix. A name that azure_blob's rules refuse (a dot
// segment, a control character), or that is empty below prefix (a blob
// named like the folder, "a/"), is left out: it could not be opened.
func decodeListing(body io.Reader, prefix string) (listing, error) {
	var result listResult
	if err := xml.NewDecoder(body).Decode(&result); err != nil {
		return listing{}, errors.New("the storage origin sent a listing that cannot be read")
	}
	page := listing{next: result.NextMarker}
	add := func(blob string, info *blobInfo) {
		if info.name == "" || strings.Contains(info.name, "/") || checkURLSafeBlobName(blob) != nil {
			return
		}
		page.entries = append(page.entries, info)
	}
	for _, b := range result.Blobs.Blob {
		blob, err := b.Name.decode()
		if err != nil || !strings.HasPrefix(blob, prefix) {
			continue
		}
		modTime, _ := time.Parse(http.TimeFormat, b.Properties.LastModified)
		etag := b.Properties.Etag
		if etag != "" && !strings.HasPrefix(etag, `"`) {
			etag = `"` + etag + `"` // as a HEAD's ETag header quotes it
		}
		add(blob, &blobInfo{name: blob[len(prefix):], size: b.Properties.ContentLength, modTime: modTime, etag: etag})
	}
	for _, p := range result.Blobs.BlobPrefix {
		blob, err := p.Name.decode()
		if err != nil || !strings.HasPrefix(blob, prefix) {
			continue
		}
		add(blob, &blobInfo{name: strings.TrimSuffix(blob[len(prefix):], "/"), dir: true})
	}
	return page, nil
}
