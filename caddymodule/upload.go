package caddymodule

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddy.RegisterModule(Uploader{})
}

// Uploader takes a file a client PUTs and stores it as a blob, with the
// limits a SAS cannot express: a size, types taken from the bytes, and
// create-only. The body goes to Azure in blocks (Put Block, each with its
// CRC-64) as it arrives, and the blob exists only once the whole body has
// arrived and passed the checks (Put Block List, If-None-Match: *): a body
// too large or of a type not allowed, a client that stops halfway, or a
// failure in Azure leave no blob, and Azure drops the uncommitted blocks
// on its own. Memory stays one block per upload, whatever the size.
//
// The answer is 201 with Location (where the file is read, as location
// says; the request's path by default) and JSON:
// container, blob, size, content_type, etag. Errors are JSON
// {"error": …}; every answer carries Cache-Control: no-store. The tokens
// it signs (per blob, c and w, for minutes) never leave Caddy.
type Uploader struct {
	// Origin is the account, its endpoint, the container (required) and
	// the credential: one that signs (account_key, a connection string
	// with AccountKey, identity), or a sas_token that grants c and w.
	Origin

	// Prefix is put before every blob name, with placeholders replaced
	// for each request, as in azure_sas: whole segments only, from what
	// authentication set ({http.auth.user.id}); an empty or unresolved one
	// is 403.
	Prefix string `json:"prefix,omitempty"`

	// StripPrefix is taken off the request's path before it is mapped to
	// a blob name, as in azure_blob.
	StripPrefix string `json:"strip_prefix,omitempty"`

	// MaxSize is the largest upload in bytes; required. A Content-Length
	// over it is 413 before a byte goes to Azure; a body without one that
	// grows past it is cut off at the limit, 413, and nothing is stored.
	MaxSize int64 `json:"max_size,omitempty"`

	// Types are the media types taken, as the bytes say (magic numbers,
	// the sniffing of WHATWG's MIME Sniffing standard), never the client's
	// Content-Type or the name: image/jpeg, image/png, video/mp4 …
	// image/svg+xml and text/html can carry script, and are taken only
	// when listed. The blob is stored with the type found.
	Types []string `json:"types,omitempty"`

	// Overwrite lets an upload replace a blob of the same name; without
	// it, an existing name is 409 and the blob is unchanged.
	Overwrite bool `json:"overwrite,omitempty"`

	// Location is the 201's Location header: where the stored file is
	// read, as a path or an absolute URL, with placeholders. Among them
	// {http.azure_upload.name}, the name the request gave (its path after
	// strip_prefix), and {http.azure_upload.blob}, the blob's name with
	// the prefix; both are escaped as a URL path here, and set plain for
	// the rest of the request (logs, headers). Default: the request's
	// path, right where the route reads the file at the path it took it.
	Location string `json:"location,omitempty"`

	// TTL is the lifetime of the tokens the uploads use. Default: 10m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Connection holds the http transport options of the requests to
	// Azure: timeouts, TLS trust, proxy.
	Connection *reverseproxy.HTTPTransport `json:"connection,omitempty"`

	auth    *authority
	writes  credential
	send    sender
	counter *uploadCounter
}

// uploadBlockSize is the size of each block: the memory an upload holds.
const uploadBlockSize = 4 << 20

// maxBlocks is the most blocks Azure commits into one blob, so with
// blocks of uploadBlockSize an upload is at most maxUploadSize (195 GiB).
const (
	maxBlocks     = 50_000
	maxUploadSize = maxBlocks * uploadBlockSize
)

// blocks are the buffers of the uploads in flight.
var blocks = sync.Pool{New: func() any { b := make([]byte, uploadBlockSize); return &b }}

// CaddyModule returns the Caddy module information.
func (Uploader) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.azure_upload",
		New: func() caddy.Module { return new(Uploader) },
	}
}

// Provision builds the authority and the credential the uploads use.
func (u *Uploader) Provision(ctx caddy.Context) (err error) {
	defer func() { err = u.where(err) }()
	if err := u.Validate(); err != nil {
		return err
	}
	if u.TTL == 0 {
		u.TTL = caddy.Duration(10 * time.Minute)
	}
	logger := ctx.Logger()
	if u.auth, err = newAuthority(&u.Origin); err != nil {
		return err
	}
	if u.writes, err = u.writeCredential(); err != nil {
		return err
	}
	u.warnLiteralSecret(logger)
	if u.Connection, err = u.auth.connect(ctx, u.Connection, logger); err != nil {
		return err
	}
	u.send = sender{conn: u.Connection, logger: logger}
	if u.counter, err = registerUploads(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	return nil
}

// permissions are the letters the uploads need: c to create the blob, and
// w to stage its blocks (Azure refuses Put Block with c alone). That w
// could replace a blob too; create-only is the commit's If-None-Match.
func (u *Uploader) permissions() sas.Permissions {
	return sas.PermCreate | sas.PermWrite
}

// writeCredential signs per blob tokens with the fewest letters, or takes
// a sas_token that grants them.
func (u *Uploader) writeCredential() (credential, error) {
	a := u.auth
	switch {
	case a.canSign():
		template := sas.ServiceValues{Resource: sas.ResourceBlob, Permissions: u.permissions(), Container: u.Container}
		return a.signingCredential(template, sas.SignerOptions{TTL: time.Duration(u.TTL)})
	case a.token != nil:
		need := u.permissions()
		grants := a.token.Permissions.Has(need)
		if a.token.Kind == sas.KindAccount {
			grants = a.token.AccountPerms&(sas.AccountCreate|sas.AccountWrite) == sas.AccountCreate|sas.AccountWrite
		}
		if sp := a.token.PermissionString(); sp != "" && !grants {
			return nil, fmt.Errorf("%s: the token does not grant %s (sp=%s), which uploads need", a.tokenField, need, sp)
		}
		return tokenCredential{a.token}, nil
	}
	return nil, errors.New("anonymous: uploads need a credential: account_key, connection_string, sas_token or identity")
}

// Validate checks the options that need no resolving.
func (u *Uploader) Validate() error {
	if err := checkRequiredContainer(u.Container); err != nil {
		return err
	}
	if err := u.Origin.validate(); err != nil {
		return err
	}
	if err := refuseUntaken(takenByUploads, optionFields{origin: &u.Origin}); err != nil {
		return err
	}
	if u.MaxSize <= 0 {
		return errors.New("max_size: required, as 20MB or 1GiB: no default lets anything through")
	}
	if u.MaxSize > maxUploadSize {
		return fmt.Errorf("max_size: at most %s (%d bytes): a blob is at most %d blocks, and each upload sends blocks of %s",
			humanize.IBytes(maxUploadSize), int64(maxUploadSize), maxBlocks, humanize.IBytes(uploadBlockSize))
	}
	if len(u.Types) == 0 {
		return errors.New("types: required: the media types taken, as image/jpeg image/png")
	}
	for _, t := range u.Types {
		if !slices.Contains(sniffedTypes, t) {
			return fmt.Errorf("types: %q is not a type the bytes can tell (%s …)", t, strings.Join(sniffedTypes[:8], ", "))
		}
	}
	if err := checkPrefixTemplate(u.Prefix); err != nil {
		return err
	}
	if err := checkStripPrefix(u.StripPrefix); err != nil {
		return err
	}
	if err := checkLocation(u.Location); err != nil {
		return err
	}
	return checkHTTPTransport(u.Connection)
}

// Cleanup lets go of the identity's keyring and the connections.
func (u *Uploader) Cleanup() error {
	u.auth.release()
	if u.Connection != nil {
		return u.Connection.Cleanup()
	}
	return nil
}

// uploadError is an answer that stores nothing, with the result it counts
// as.
type uploadError struct {
	status int
	result string
	err    error
}

func (e *uploadError) Error() string { return e.err.Error() }

// uploaded is the answer to an upload that stored its blob.
type uploaded struct {
	Container   string `json:"container"`
	Blob        string `json:"blob"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`

	name string // as the request gave it: its path after strip_prefix
}

// ServeHTTP takes a PUT's body as the blob its path names.
func (u *Uploader) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	var result uploaded
	var size int64
	err := u.serve(w, r, &result, &size)
	outcome := "created"
	var refused *uploadError
	if errors.As(err, &refused) {
		outcome = refused.result
	} else if err != nil {
		outcome, refused = "error", &uploadError{http.StatusBadGateway, "error", errors.New("the storage origin failed")}
	}
	u.counter.add(u.Container, outcome, size)
	if outcome == "error" {
		u.send.logger.Error("upload failed", zap.String("blob", result.Blob), zap.Error(err)) // send redacts its errors
	}
	var user string
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		user, _ = repl.GetString("http.auth.user.id")
	}
	u.send.logger.Info("upload", zap.String("user", user), zap.String("blob", result.Blob), zap.Int64("size", size),
		zap.String("type", result.ContentType), zap.String("result", outcome), zap.String("client", r.RemoteAddr))
	if refused != nil {
		if refused.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPut)
		}
		return writeJSON(w, refused.status, map[string]string{"error": refused.err.Error()})
	}
	w.Header().Set("Location", u.location(r, &result))
	return writeJSON(w, http.StatusCreated, result)
}

// serve maps the request to a blob and uploads its body there, filling in
// result and the bytes taken.
func (u *Uploader) serve(w http.ResponseWriter, r *http.Request, result *uploaded, size *int64) error {
	if r.Method != http.MethodPut {
		return &uploadError{http.StatusMethodNotAllowed, "error", errors.New("upload with PUT, the file as the body")}
	}
	name, blob, refused := u.blobName(r)
	if refused != nil {
		return refused
	}
	result.Container, result.Blob, result.name = u.Container, blob, name
	if r.ContentLength > u.MaxSize {
		return errTooLarge(u.MaxSize)
	}
	body := http.MaxBytesReader(w, r.Body, u.MaxSize)
	return u.upload(r, body, result, size)
}

// blobName maps the request's path to the blob name, as azure_blob does:
// strip_prefix, then the prefix resolved for the request. It returns the
// name the request gave too (its path after strip_prefix).
func (u *Uploader) blobName(r *http.Request) (name, blob string, refused *uploadError) {
	path, ok := stripPathPrefix(r.URL.Path, u.StripPrefix)
	if !ok {
		return "", "", &uploadError{http.StatusNotFound, "error", errors.New("the path is outside strip_prefix")}
	}
	prefix, err := resolvePrefix(r, u.Prefix)
	if err != nil {
		return "", "", &uploadError{http.StatusForbidden, "error", err}
	}
	blob, err = blobName(prefix, path)
	switch {
	case errors.Is(err, errNoBlobName):
		return "", "", &uploadError{http.StatusNotFound, "error", err}
	case err != nil:
		return "", "", &uploadError{http.StatusBadRequest, "error", err}
	}
	return strings.TrimPrefix(path, "/"), blob, nil
}

// errTooLarge is the answer to a body over limit.
func errTooLarge(limit int64) *uploadError {
	return &uploadError{http.StatusRequestEntityTooLarge, "too_large",
		fmt.Errorf("the file is larger than %s", humanize.Bytes(uint64(limit)))}
}

// upload stages body as blocks of blob and commits them once all of it
// has arrived within the limit and with a type taken.
func (u *Uploader) upload(r *http.Request, body io.Reader, result *uploaded, size *int64) error {
	buf := blocks.Get().(*[]byte)
	defer blocks.Put(buf)
	id := make([]byte, 12)
	_, _ = rand.Read(id) // every upload its own block IDs: uploads racing to one name never mix blocks
	var ids []string
	for i := 0; ; i++ {
		n, err := fill(body, *buf)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return errTooLarge(u.MaxSize)
		case err != nil && err != io.EOF:
			return errAborted // nothing of a body cut short is staged
		}
		if n > 0 {
			if i == 0 {
				if result.ContentType = sniffType((*buf)[:n]); !slices.Contains(u.Types, result.ContentType) {
					return &uploadError{http.StatusUnsupportedMediaType, "type",
						fmt.Errorf("the file is %s, which is not taken here", result.ContentType)}
				}
			}
			*size += int64(n)
			blockID := base64.StdEncoding.EncodeToString(fmt.Appendf(id[:12:12], "%08d", i))
			if err := u.putBlock(r, result.Blob, blockID, (*buf)[:n]); err != nil {
				if r.Context().Err() != nil {
					return errAborted // the client went away while the block was staged
				}
				return err
			}
			ids = append(ids, blockID)
		}
		if err == io.EOF {
			if *size == 0 {
				return &uploadError{http.StatusBadRequest, "type", errors.New("the file is empty")}
			}
			result.Size = *size
			return u.commit(r, result, ids)
		}
	}
}

// errAborted: the client stopped sending before the body's end.
var errAborted = &uploadError{http.StatusBadRequest, "aborted", errors.New("the upload stopped before its end")}

// fill reads from body until buf is full or body ends: io.EOF only at
// the body's true end (where io.ReadFull would say io.ErrUnexpectedEOF
// also for a body cut short, which must not be committed).
func fill(body io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// putBlock stages one block, with its checksum so Azure refuses it
// corrupted.
func (u *Uploader) putBlock(r *http.Request, blob, blockID string, data []byte) error {
	up := u.request(r, blob, data)
	setBlockChecksum(up.Header, u.auth.version, data)
	resp, _, err := u.send.sendHealingAs(u.writes, up, u.Container, blob, "comp=block&blockid="+url.QueryEscape(blockID))
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("put block: %d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	return nil
}

// commit makes the blob of the staged blocks, with the type found, and
// only if no blob has the name (unless overwrite).
func (u *Uploader) commit(r *http.Request, result *uploaded, ids []string) error {
	var list bytes.Buffer
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for _, id := range ids {
		list.WriteString("<Latest>" + id + "</Latest>")
	}
	list.WriteString("</BlockList>")
	up := u.request(r, result.Blob, list.Bytes())
	up.Header.Set("x-ms-blob-content-type", result.ContentType)
	if !u.Overwrite {
		up.Header.Set("If-None-Match", "*")
	}
	resp, _, err := u.send.sendHealingAs(u.writes, up, u.Container, result.Blob, "comp=blocklist")
	if err != nil {
		return err
	}
	drain(resp)
	code := resp.Header.Get("x-ms-error-code")
	switch {
	case resp.StatusCode == http.StatusCreated:
		result.ETag = resp.Header.Get("ETag")
		return nil
	case resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusPreconditionFailed || code == "InvalidBlockList":
		// The name exists, or another upload committed it first (its
		// commit drops the blocks of the others).
		return &uploadError{http.StatusConflict, "exists", errors.New("a file of that name exists")}
	}
	return fmt.Errorf("put block list: %d %s", resp.StatusCode, code)
}

// request is a PUT of data for blob; send adds the token.
func (u *Uploader) request(r *http.Request, blob string, data []byte) *http.Request {
	up := u.auth.blobRequest(r.Context(), http.MethodPut, u.Container, blob, nil)
	up.ContentLength = int64(len(data))
	up.Body = io.NopCloser(bytes.NewReader(data))
	up.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return up
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	azure_upload [<matcher>] {
//		container         <name>
//		prefix            <blob name prefix, with placeholders>
//		strip_prefix      <request path prefix>
//		max_size          <size, as 20MB>
//		types             <media type>...
//		overwrite
//		location          <path or URL, with placeholders>
//		ttl               <duration>
//		account           <name>
//		endpoint          <url>
//		account_key | connection_string | sas_token | identity ...
//		version           <service version>
//		<http transport option> ...
//	}
func (u *Uploader) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	u.Caddyfile = position(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := optionFields{origin: &u.Origin, http: &u.Connection}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		switch option := d.Val(); option {
		case "prefix":
			if err := unmarshalPrefix(d, seen, &u.Prefix); err != nil {
				return err
			}
		case "strip_prefix":
			if err := unmarshalString(d, seen, &u.StripPrefix); err != nil {
				return err
			}
		case "max_size":
			var value string
			if err := unmarshalString(d, seen, &value); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(value)
			if err != nil || size == 0 || size > 1<<50 {
				return d.Errf("max_size: %q is not a size, as 20MB or 1GiB", value)
			}
			u.MaxSize = int64(size)
		case "types":
			if seen[option] {
				return d.Errf("%s given twice", option)
			}
			seen[option] = true
			if u.Types = d.RemainingArgs(); len(u.Types) == 0 {
				return d.ArgErr()
			}
		case "location":
			if err := unmarshalString(d, seen, &u.Location); err != nil {
				return err
			}
		case "overwrite":
			if seen[option] || d.NextArg() {
				return d.ArgErr()
			}
			seen[option] = true
			u.Overwrite = true
		case "ttl":
			var value string
			if err := unmarshalString(d, seen, &value); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(value)
			if err != nil {
				return d.Errf("ttl: %v", err)
			}
			u.TTL = caddy.Duration(dur)
		default:
			if opt, ok := lookupOriginOption(option); ok {
				if err := refuseIn(takenByUploads, opt); err != nil {
					return d.Errf("azure_upload: %v", err)
				}
			}
			if err := unmarshalOptionInto(d, seen, uploadOptions, fields); err != nil {
				return err
			}
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Uploader)(nil)
	_ caddy.Validator             = (*Uploader)(nil)
	_ caddy.CleanerUpper          = (*Uploader)(nil)
	_ caddyhttp.MiddlewareHandler = (*Uploader)(nil)
	_ caddyfile.Unmarshaler       = (*Uploader)(nil)
)
