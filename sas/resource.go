package sas

import (
	"errors"
	"fmt"
)

// Resource is the sr field of a service SAS: what the token addresses.
type Resource string

// Service SAS resources.
const (
	ResourceBlob      Resource = "b"  // one blob
	ResourceContainer Resource = "c"  // every blob in a container
	ResourceSnapshot  Resource = "bs" // one snapshot of a blob (request carries ?snapshot=)
	ResourceVersion   Resource = "bv" // one version of a blob (request carries ?versionid=)
	ResourceDirectory Resource = "d"  // a directory of a hierarchical-namespace account (needs sdd)
)

// ParseResource checks an sr value.
func ParseResource(s string) (Resource, error) {
	r := Resource(s)
	if _, _, err := r.permissions(); err != nil {
		return "", err
	}
	return r, nil
}

var (
	blobBits      = Permissions(letterBits(blobLetters))
	containerBits = Permissions(letterBits(containerLetters))
	directoryBits = Permissions(letterBits(directoryLetters))
)

// permissions returns the letters a resource takes, as text and as bits.
func (r Resource) permissions() (string, Permissions, error) {
	switch r {
	case ResourceBlob, ResourceSnapshot, ResourceVersion:
		return blobLetters, blobBits, nil
	case ResourceContainer:
		return containerLetters, containerBits, nil
	case ResourceDirectory:
		return directoryLetters, directoryBits, nil
	case "":
		return "", 0, fmt.Errorf("signed resource (sr) is empty")
	}
	return "", 0, errors.New("signed resource (sr) is not one of b, c, bs, bv, d")
}

func (r Resource) describe() string {
	switch r {
	case ResourceBlob:
		return "blob"
	case ResourceContainer:
		return "container"
	case ResourceSnapshot:
		return "snapshot"
	case ResourceVersion:
		return "blob version"
	case ResourceDirectory:
		return "directory"
	}
	return "unknown"
}

// isBlobLevel reports whether the canonicalized resource names a blob.
func (r Resource) isBlobLevel() bool {
	return r == ResourceBlob || r == ResourceSnapshot || r == ResourceVersion
}
