package caddymodule

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
)

// A file's bytes are read in windows, each a ranged GET from the current
// offset: the first firstWindow long, each next one that goes on where the
// last ended twice as long, up to maxWindow. A range, or a download the
// client abandons, pulls at most its own length plus the window that was
// being read.
const (
	firstWindow = 1 << 20
	maxWindow   = 16 << 20
)

// blobFile is an open blob of a Filesystem. Seek costs nothing; Read asks
// Azure for the window at the offset, tied with If-Match to the version
// Open described, so its bytes always match the size file_server sent.
type blobFile struct {
	fsys *Filesystem
	blob string
	info *blobInfo

	offset  int64
	body    io.ReadCloser // the window being read, or nil
	bodyAt  int64         // the offset of body's next byte
	bodyEnd int64         // where the last window ends
	window  int64         // the last window's length
}

// Stat describes the blob as Open found it.
func (f *blobFile) Stat() (fs.FileInfo, error) { return f.info, nil }

// Read reads from the offset, asking Azure for a window when the one open
// does not go on from there.
func (f *blobFile) Read(p []byte) (int, error) {
	if f.offset >= f.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.body == nil || f.bodyAt != f.offset {
		if err := f.fetch(); err != nil {
			return 0, err
		}
	}
	n, err := f.body.Read(p[:min(int64(len(p)), f.bodyEnd-f.bodyAt)])
	f.offset += int64(n)
	f.bodyAt += int64(n)
	switch {
	case f.bodyAt == f.bodyEnd:
		f.closeBody()
		return n, nil
	case err == io.EOF:
		f.closeBody()
		return n, &fs.PathError{Op: "read", Path: f.info.name, Err: io.ErrUnexpectedEOF}
	}
	return n, err
}

// fetch opens the window at the offset.
func (f *blobFile) fetch() error {
	goesOn := f.body == nil && f.window > 0 && f.offset == f.bodyEnd
	f.closeBody()
	if goesOn {
		f.window = min(2*f.window, maxWindow)
	} else {
		f.window = firstWindow
	}
	end := min(f.offset+f.window, f.info.size)
	h := http.Header{"Range": {"bytes=" + strconv.FormatInt(f.offset, 10) + "-" + strconv.FormatInt(end-1, 10)}}
	if f.info.etag != "" {
		h.Set("If-Match", f.info.etag)
	}
	resp, err := f.fsys.send(http.MethodGet, f.blob, h)
	if err != nil {
		if errors.Is(err, errBlobChanged) || errors.Is(err, fs.ErrNotExist) {
			f.fsys.meta.forget(f.blob, parentFolder(f.blob)) // the next request sees the blob as it is now
		}
		return &fs.PathError{Op: "read", Path: f.info.name, Err: err}
	}
	if resp.StatusCode != http.StatusPartialContent {
		drain(resp)
		return &fs.PathError{Op: "read", Path: f.info.name, Err: errors.New("the storage origin did not answer the range")}
	}
	f.body, f.bodyAt, f.bodyEnd = resp.Body, f.offset, end
	return nil
}

// Seek moves the offset; the next Read asks for it.
func (f *blobFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.offset
	case io.SeekEnd:
		offset += f.info.size
	case io.SeekStart:
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.info.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.info.name, Err: fs.ErrInvalid}
	}
	f.offset = offset
	return offset, nil
}

// Close lets go of the window being read.
func (f *blobFile) Close() error {
	f.closeBody()
	return nil
}

// closeBody closes the window being read, if any.
func (f *blobFile) closeBody() {
	if f.body != nil {
		_ = f.body.Close()
		f.body = nil
	}
}
