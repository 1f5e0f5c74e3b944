package caddymodule

import (
	"io"
	"io/fs"
)

// Azure lists at most this many names a page.
const maxListResults = 5000

// blobDir is an open folder of a Filesystem: its entries are listed page
// by page as ReadDir asks for them, following Azure's continuation marker.
type blobDir struct {
	fsys   *Filesystem
	info   *blobInfo
	prefix string // the listing prefix: the folder's blob name and '/'

	pending []fs.DirEntry // listed, not yet returned
	marker  string        // where the next page starts
	started bool          // the first page is listed
	done    bool          // the last page is listed
}

// list reads the next page into pending: the first from the page lookup
// kept, when it is.
func (d *blobDir) list() error {
	if !d.started {
		d.started = true
		page, err := d.fsys.firstPage(d.prefix)
		if err != nil {
			return err
		}
		for _, e := range page.entries {
			d.pending = append(d.pending, e)
		}
		d.marker, d.done = page.next, page.next == ""
		return nil
	}
	page, err := d.fsys.listPage(d.prefix, d.marker, maxListResults)
	if err != nil {
		return err
	}
	d.pending, d.marker, d.done = page.entries, page.next, page.next == ""
	return nil
}

// Stat describes the folder.
func (d *blobDir) Stat() (fs.FileInfo, error) { return d.info, nil }

// Read fails: a folder has no bytes.
func (d *blobDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errIsFolder}
}

// Close does nothing: nothing is held open between pages.
func (d *blobDir) Close() error { return nil }

// ReadDir returns the next n entries (all that are left when n <= 0),
// and io.EOF when n > 0 and none are left, as fs.ReadDirFile says.
func (d *blobDir) ReadDir(n int) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for n <= 0 || len(out) < n {
		if len(d.pending) == 0 {
			if d.done {
				break
			}
			if err := d.list(); err != nil {
				return out, &fs.PathError{Op: "readdir", Path: d.info.name, Err: err}
			}
			continue
		}
		take := len(d.pending)
		if n > 0 {
			take = min(take, n-len(out))
		}
		out = append(out, d.pending[:take]...)
		d.pending = d.pending[take:]
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}
