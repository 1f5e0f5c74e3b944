package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	caddy.RegisterModule(Filesystem{})
}

// Filesystem is a Caddy filesystem over one container of Azure Blob
// Storage (or a folder of it, with prefix), for file_server's fs option:
// file_server then serves blobs with its listings (browse, in HTML or
// JSON), index files, try_files, precompressed sidecars, ETags, ranges and
// conditional requests, as it serves a disk.
//
// Azure has no folders: a path is a folder when blobs are named below it
// (a listing with that prefix and the delimiter / finds one). A blob and a
// folder of the same name (a and a/b) are a file, and the folder's blobs
// stay reachable by their full path.
//
// Each read is signed for its blob with sp=r, each listing for the
// container with sp=l, from the token cache of the azure_blob transport's
// kind; a 403 drops the token and tries once more with a fresh one. What
// it learns of a path (a file's size, time and ETag, a folder, or nothing)
// is kept for a few seconds, in a cache bounded in bytes; a read is tied to
// the version it was sized by (If-Match), so a blob replaced meanwhile is
// never served with the old size: its answer is cut off, and the next
// request sees the new blob. Reads are ranged from the current offset,
// 1 MiB first and doubling up to 16 MiB while the reader goes on, so a
// range or an abandoned download pulls little more than what was sent.
//
// It takes the origin options of the azure_blob transport that mean
// something for it: account, endpoint, container (required), the
// credentials, ttl, renew_before, version and insecure_http, with prefix
// and the http transport options.
type Filesystem struct {
	// ReadOrigin is the container and what signs for it. Of its options
	// for reading through a proxy, none applies: scope, policy, the header
	// overrides, guess_content_type and user_content are refused.
	ReadOrigin

	// Prefix is the folder of the container the filesystem shows, ending
	// in '/' (site/); no path leaves it. It takes no placeholders.
	Prefix string `json:"prefix,omitempty"`

	// Connection holds the http transport options of the requests to
	// Azure: timeouts, TLS trust, proxy.
	Connection *reverseproxy.HTTPTransport `json:"connection,omitempty"`

	reader *reader
	list   credential // signs listings: sp=l for the container
	meta   *metadataCache
}

// CaddyModule returns the Caddy module information.
func (Filesystem) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.fs.azure_blob",
		New: func() caddy.Module { return new(Filesystem) },
	}
}

// Provision builds the reader that signs and sends the requests.
func (f *Filesystem) Provision(ctx caddy.Context) (err error) {
	defer func() { err = f.where(err) }()
	if err := f.Validate(); err != nil {
		return err
	}
	ro := f.ReadOrigin // with the defaults, which Validate would take for options given
	ro.setDefaults()
	if f.reader, err = newReader(ctx, ro, f.Connection, ctx.Logger()); err != nil {
		return err
	}
	if f.list, err = f.listCredential(); err != nil {
		return err
	}
	f.meta = newMetadataCache()
	return nil
}

// Validate checks the options that need no resolving.
func (f *Filesystem) Validate() error {
	if err := checkRequiredContainer(f.Container); err != nil {
		return err
	}
	if err := refuseUntaken(takenByFilesystem, f.ReadOrigin.fields()); err != nil {
		return err
	}
	if err := checkFilesystemPrefix(f.Prefix); err != nil {
		return err
	}
	if err := f.ReadOrigin.validate(); err != nil {
		return err
	}
	return checkHTTPTransport(f.Connection)
}

// checkFilesystemPrefix refuses a prefix that is not a literal folder.
func checkFilesystemPrefix(prefix string) error {
	switch {
	case prefix == "":
		return nil
	case hasPlaceholder(prefix):
		return errors.New("prefix: a filesystem has no request to fill placeholders from; write the folder itself")
	case !strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/"):
		return errors.New("prefix: a folder of the container, ending in '/' and not starting with it, as in site/")
	}
	if err := checkURLSafeBlobName(prefix + "x"); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// listCredential is how listings are authorized: a container token with
// sp=l that the authority signs, or the sas_token, which is warned about
// when it does not grant l, or nothing for a public container.
func (f *Filesystem) listCredential() (credential, error) {
	a := f.reader.auth
	switch {
	case a.canSign():
		template := sas.ServiceValues{Resource: sas.ResourceContainer, Permissions: sas.PermList, Container: f.Container}
		return a.signingCredential(template, f.reader.signerOptions())
	case a.token != nil:
		if !grantsList(a.token) {
			f.reader.logger.Warn(a.tokenField+" does not grant list (l): folders can be neither listed (browse) nor told from missing files (index, try_files); "+
				"give a token with sp=rl", zap.String("permissions", a.token.PermissionString()))
		}
		return tokenCredential{a.token}, nil
	}
	return anonymousCredential{}, nil
}

// grantsList reports whether tok lets its holder list a container's blobs.
// One whose permissions come from a stored policy cannot be judged.
func grantsList(tok *sas.ParsedToken) bool {
	if tok.Kind == sas.KindAccount {
		return tok.AccountPerms&sas.AccountList != 0 && tok.ResourceTypes&sas.ResourceTypeContainer != 0
	}
	return tok.PermissionString() == "" || (tok.Permissions.Has(sas.PermList) && tok.Resource == sas.ResourceContainer)
}

// Cleanup lets go of the reader, when Provision built one.
func (f *Filesystem) Cleanup() error {
	if f.reader != nil {
		f.reader.cleanup()
	}
	return nil
}

// UnmarshalCaddyfile sets up the filesystem from Caddyfile tokens, in the
// global filesystem option:
//
//	filesystem <name> azure_blob {
//		account           <name>
//		endpoint          <url>
//		container         <name>
//		prefix            <folder/>
//		account_key       <base64 key>
//		connection_string <connection string>
//		sas_token         <token>
//		anonymous
//		identity          <kind> [<args>…]
//		ttl               <duration>
//		renew_before      <duration>
//		version           <service version>
//		insecure_http
//		<http transport option> ...
//	}
//
// Give exactly one credential, as in azure_blob; write secrets as
// {env.VAR} or {file.path} placeholders.
func (f *Filesystem) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	f.Caddyfile = position(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	fields := f.ReadOrigin.fields()
	fields.http = &f.Connection
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		option := d.Val()
		if option == "prefix" {
			if err := unmarshalString(d, seen, &f.Prefix); err != nil {
				return err
			}
			if err := checkFilesystemPrefix(f.Prefix); err != nil {
				return d.Err(err.Error())
			}
			continue
		}
		if opt, ok := lookupOriginOption(option); ok {
			if err := refuseIn(takenByFilesystem, opt); err != nil {
				return d.Errf("azure_blob filesystem: %v", err)
			}
		}
		if err := unmarshalOptionInto(d, seen, filesystemOptions, fields); err != nil {
			return err
		}
	}
	if err := f.Validate(); err != nil {
		return d.Errf("azure_blob filesystem: %v", err)
	}
	if err := f.ReadOrigin.checkAtAdapt(); err != nil {
		return d.Errf("azure_blob filesystem: %v", err)
	}
	return nil
}

// Open opens a file or a folder: a folder's entries are listed when they
// are read, a file's bytes when they are read.
func (f *Filesystem) Open(name string) (fs.File, error) {
	blob, info, err := f.describe("open", name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return &blobDir{fsys: f, info: info, prefix: folderPrefix(blob)}, nil
	}
	return &blobFile{fsys: f, blob: blob, info: info}, nil
}

// Stat describes a file or a folder.
func (f *Filesystem) Stat(name string) (fs.FileInfo, error) {
	_, info, err := f.describe("stat", name)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// describe maps name to its blob and looks it up, for op.
func (f *Filesystem) describe(op, name string) (string, *blobInfo, error) {
	blob, err := f.blobOf(op, name)
	if err != nil {
		return "", nil, err
	}
	info, err := f.lookup(blob)
	if err != nil {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return blob, info, nil
}

// blobOf maps a name of the filesystem to its blob name below the prefix
// ("" or the prefix itself for the root), refusing one that is not a
// valid fs path or that Azure could not hold or would read otherwise:
// the rules of azure_blob's names. Errors quote the name, which file_server
// logs at debug level only, and wrap fs.ErrInvalid (400). A leading '/' is
// taken off first: file_server joins its root and the request's path, and
// a root written as on disk (root /app) names the folder app.
func (f *Filesystem) blobOf(op, name string) (string, error) {
	if trimmed, ok := strings.CutPrefix(name, "/"); ok {
		name = trimmed
		if name == "" {
			name = "."
		}
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.Prefix, nil
	}
	blob := f.Prefix + name
	if err := checkURLSafeBlobName(blob); err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %v", fs.ErrInvalid, err)}
	}
	return blob, nil
}

// folderPrefix is the listing prefix of the folder blob names: the root
// ("" or the prefix) as it is, any other with its '/'.
func folderPrefix(blob string) string {
	if blob == "" || strings.HasSuffix(blob, "/") {
		return blob
	}
	return blob + "/"
}

// lookup says what blob is (a file, a folder, or fs.ErrNotExist): from
// the kept first page of its folder's listing when that page is the whole
// folder, else from the metadata cache, else from Azure: a HEAD, and for a
// name that is no blob the first page of a listing below it, which is kept
// for the lookups of its entries (index files, try_files) and its
// ReadDir. The root is always a folder, even an empty one.
func (f *Filesystem) lookup(blob string) (*blobInfo, error) {
	if blob == f.Prefix {
		return &blobInfo{name: ".", dir: true}, nil
	}
	if page, ok := f.meta.page(parentFolder(blob)); ok {
		if info, ok := page.byName[path.Base(blob)]; ok {
			return info, nil
		}
		if page.next == "" {
			return nil, fs.ErrNotExist
		}
	}
	info, err := f.meta.get(blob, func() (*blobInfo, error) {
		info, err := f.head(blob)
		if errors.Is(err, fs.ErrNotExist) {
			info, err = f.folder(blob)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return missingInfo, nil // kept too: try_files asks for the same missing names
		}
		return info, err
	})
	if err != nil {
		return nil, err
	}
	if info == missingInfo {
		return nil, fs.ErrNotExist
	}
	return info, nil
}

// head asks Azure for a blob's properties.
func (f *Filesystem) head(blob string) (*blobInfo, error) {
	resp, err := f.send(http.MethodHead, blob, nil)
	if err != nil {
		return nil, err
	}
	drain(resp)
	return blobInfoOf(path.Base(blob), resp.Header)
}

// folder reports whether blobs are named below blob, from the first page
// of its listing.
func (f *Filesystem) folder(blob string) (*blobInfo, error) {
	page, err := f.firstPage(folderPrefix(blob))
	if err != nil {
		return nil, err
	}
	if len(page.entries) == 0 {
		return nil, fs.ErrNotExist
	}
	return &blobInfo{name: path.Base(blob), dir: true}, nil
}

// firstPage is the first page of the listing of the folder prefix, kept
// for a few seconds.
func (f *Filesystem) firstPage(prefix string) (*folderPage, error) {
	if page, ok := f.meta.page(prefix); ok {
		return page, nil
	}
	listed, err := f.listPage(prefix, "", maxListResults)
	if err != nil {
		return nil, err
	}
	page := newFolderPage(listed)
	f.meta.putPage(prefix, page)
	return page, nil
}

// parentFolder is the listing prefix of the folder blob is in.
func parentFolder(blob string) string {
	return blob[:strings.LastIndexByte(blob, '/')+1]
}

// listPage lists a page of at most max entries of the folder prefix from
// marker on.
func (f *Filesystem) listPage(prefix, marker string, max int) (listing, error) {
	params := url.Values{"restype": {"container"}, "comp": {"list"}, "delimiter": {"/"}, "maxresults": {strconv.Itoa(max)}}
	if prefix != "" {
		params.Set("prefix", prefix)
	}
	if marker != "" {
		params.Set("marker", marker)
	}
	resp, _, err := f.reader.sendHealingAs(f.list, f.request(http.MethodGet, "", nil), f.Container, "", params.Encode())
	if err != nil {
		return listing{}, err
	}
	defer drain(resp)
	if err := f.refusal(resp); err != nil {
		return listing{}, err
	}
	return decodeListing(io.LimitReader(resp.Body, maxListingBytes), prefix)
}

// request is a request of method for blob ("" for the container), with
// the signed version and the headers h; send adds the token.
func (f *Filesystem) request(method, blob string, h http.Header) *http.Request {
	return f.reader.auth.blobRequest(context.Background(), method, f.Container, blob, h)
}

// send sends a read of blob, signed for it, and maps Azure's refusals to
// the errors file_server expects: fs.ErrNotExist for a missing blob (404),
// fs.ErrPermission for a refused token (403); a missing container, a
// busy or failing Azure are errors of their own (file_server's 500 or
// 503), and a missing container is logged as the transport logs it.
func (f *Filesystem) send(method, blob string, h http.Header) (*http.Response, error) {
	resp, _, err := f.reader.sendHealing(f.request(method, blob, h), f.Container, blob)
	if err != nil {
		return nil, err
	}
	if err := f.refusal(resp); err != nil {
		drain(resp)
		return nil, err
	}
	return resp, nil
}

// refusal is the error of an answer of Azure's other than success, or nil.
func (f *Filesystem) refusal(resp *http.Response) error {
	switch code := resp.StatusCode; {
	case code < 300:
		return nil
	case isContainerNotFound(resp):
		f.reader.logContainerNotFound(f.Container)
		return errContainerNotFound
	case code == http.StatusNotFound:
		return fs.ErrNotExist
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		f.reader.counters.authFailures.Add(1)
		f.reader.logger.Error(logRefused, zap.String("container", f.Container), zap.Int("status", code),
			zap.String("azure_error_code", resp.Header.Get("x-ms-error-code")))
		return fs.ErrPermission
	case code == http.StatusPreconditionFailed:
		return errBlobChanged
	}
	return fmt.Errorf("the storage origin answered %d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
}

// Errors of the filesystem beside those of io/fs.
var (
	errContainerNotFound = errors.New("container not found in the storage account")
	errBlobChanged       = errors.New("the blob changed since it was opened")
)

// Interface guards
var (
	_ caddy.Provisioner     = (*Filesystem)(nil)
	_ caddy.Validator       = (*Filesystem)(nil)
	_ caddy.CleanerUpper    = (*Filesystem)(nil)
	_ caddyfile.Unmarshaler = (*Filesystem)(nil)
	_ fs.StatFS             = (*Filesystem)(nil)
)
