package azurite

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// requestTimeout bounds each seeding call and each Fetch.
const requestTimeout = 30 * time.Second

// versionPolicy sets x-ms-version on every request of the SDK. azblob
// v1.8.3 sends 2026-12-06, which Azurite 3.37 refuses unless started with
// --skipApiVersionCheck; sas.DefaultVersion keeps Azurite's check on.
//
// It must be a per-call policy: per-call policies run before the SDK's own
// per-retry policies, among them the shared-key signer, which signs the
// x-ms-version header. A per-retry policy of the client options runs after
// the signer, and rewriting the header there breaks the signature (403).
type versionPolicy string

func (v versionPolicy) Do(req *policy.Request) (*http.Response, error) {
	setVersion(req.Raw().Header, string(v))
	return req.Next()
}

// setVersion replaces x-ms-version, however its name is cased: the SDK
// writes the header map directly with the lowercase name, so Header.Set
// would add a second, canonical "X-Ms-Version" entry instead of replacing it.
func setVersion(h http.Header, version string) {
	for k := range h {
		if strings.EqualFold(k, "x-ms-version") {
			delete(h, k)
		}
	}
	h["x-ms-version"] = []string{version}
}

// NewClient makes an SDK client for a path-style endpoint (with the account
// in the path, as Azurite needs) whose requests carry an x-ms-version that
// Azurite 3.37 accepts. The demo seeds Azurite with it too.
func NewClient(endpoint, account, key string) (*azblob.Client, error) {
	return newClient(endpoint, account, key, nil)
}

// newClient is NewClient sending through hc (nil: the SDK's default).
func newClient(endpoint, account, key string, hc *http.Client) (*azblob.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, err
	}
	opts := azcore.ClientOptions{
		PerCallPolicies: []policy.Policy{versionPolicy(sas.DefaultVersion)},
		Retry:           policy.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond},
		Telemetry:       policy.TelemetryOptions{Disabled: true},
	}
	if hc != nil {
		opts.Transport = hc
	}
	return azblob.NewClientWithSharedKeyCredential(endpoint+"/", cred, &azblob.ClientOptions{ClientOptions: opts})
}

// Client returns the SDK client, authorized with the account key, for
// seeding beyond what the helpers here do. Its requests carry x-ms-version
// sas.DefaultVersion. Restart replaces it.
func (s *Server) Client() *azblob.Client { return s.client }

func (s *Server) containerClient(name string) *container.Client {
	return s.client.ServiceClient().NewContainerClient(name)
}

// CreateContainer creates a container: private, or with anonymous read
// access to its blobs (not to listing) when public is true.
func (s *Server) CreateContainer(t testing.TB, name string, public bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var opts container.CreateOptions
	if public {
		opts.Access = to.Ptr(container.PublicAccessTypeBlob)
	}
	if _, err := s.containerClient(name).Create(ctx, &opts); err != nil {
		t.Fatalf("azurite: create container %q: %v", name, err)
	}
}

// Upload writes a block blob. An empty contentType leaves Azurite's default
// (application/octet-stream).
func (s *Server) Upload(t testing.TB, containerName, blobName string, data []byte, contentType string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var opts blockblob.UploadBufferOptions
	if contentType != "" {
		opts.HTTPHeaders = &blob.HTTPHeaders{BlobContentType: &contentType}
	}
	if _, err := s.client.UploadBuffer(ctx, containerName, blobName, data, &opts); err != nil {
		t.Fatalf("azurite: upload %q to container %q: %v", blobName, containerName, err)
	}
}

// SetAccessPolicy adds or replaces the stored access policy id on a
// container, keeping its other policies and its public access level. perms
// are the policy's letters (e.g. "r"); a zero start or expiry leaves that
// field to the token.
func (s *Server) SetAccessPolicy(t testing.TB, containerName, id, perms string, start, expiry time.Time) {
	t.Helper()
	p := &container.AccessPolicy{}
	if perms != "" {
		p.Permission = &perms
	}
	if !start.IsZero() {
		p.Start = to.Ptr(start.UTC())
	}
	if !expiry.IsZero() {
		p.Expiry = to.Ptr(expiry.UTC())
	}
	s.editPolicies(t, containerName, id, p)
}

// RemoveAccessPolicy deletes the stored access policy id from a container,
// which revokes the tokens that name it.
func (s *Server) RemoveAccessPolicy(t testing.TB, containerName, id string) {
	t.Helper()
	s.editPolicies(t, containerName, id, nil)
}

// editPolicies replaces (or, with a nil policy, removes) one signed
// identifier of a container's ACL.
func (s *Server) editPolicies(t testing.TB, containerName, id string, p *container.AccessPolicy) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	c := s.containerClient(containerName)
	cur, err := c.GetAccessPolicy(ctx, nil)
	if err != nil {
		t.Fatalf("azurite: get access policy of container %q: %v", containerName, err)
	}
	acl := slices.DeleteFunc(cur.SignedIdentifiers, func(si *container.SignedIdentifier) bool {
		return si != nil && si.ID != nil && *si.ID == id
	})
	if p != nil {
		acl = append(acl, &container.SignedIdentifier{ID: &id, AccessPolicy: p})
	}
	if _, err := c.SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{Access: cur.BlobPublicAccess, ContainerACL: acl}); err != nil {
		t.Fatalf("azurite: set access policy of container %q: %v", containerName, err)
	}
}

// BlobURL returns the URL of a blob: the endpoint, the container and the
// decoded blob name escaped segment by segment (url.PathEscape per segment,
// '/' kept as the separator), with no query.
func (s *Server) BlobURL(containerName, blobName string) string {
	return s.Endpoint + "/" + containerName + "/" + EscapeBlobPath(blobName)
}

// EscapeBlobPath escapes each '/'-separated segment of a blob name for a URL
// path, so space, '#', '?', '%' and ';' reach Azure as part of the name.
func EscapeBlobPath(blobName string) string {
	segs := strings.Split(blobName, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// Fetch sends a request with no body and returns the response with its
// body read and closed. It sets x-ms-version to sas.DefaultVersion unless
// header carries one. Transport errors fail the test.
func Fetch(t testing.TB, method, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		t.Fatalf("azurite: fetch: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("x-ms-version") == "" && len(req.Header["x-ms-version"]) == 0 {
		setVersion(req.Header, sas.DefaultVersion)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The URL may hold a signature: report the method and status only.
		t.Fatalf("azurite: %s request failed: %v", method, redactErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("azurite: %s: reading the body: %v", method, err)
	}
	return resp, body
}

// redactErr drops the URL (and its sig) from a *url.Error.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// AsAccount returns a view of s for another of its accounts (see
// Accounts): CreateContainer, Upload and the policy helpers act on that
// account with key, and Endpoint, Account and Key are its. It shares the
// process: Stop, Restart and Cleanup belong to s.
func (s *Server) AsAccount(t testing.TB, account, key string) *Server {
	t.Helper()
	endpoint := strings.TrimSuffix(s.Endpoint, "/"+s.Account) + "/" + account
	client, err := newClient(endpoint, account, key, s.HTTPClient())
	if err != nil {
		t.Fatalf("azurite: client for account %q: %v", account, err)
	}
	return &Server{Endpoint: endpoint, Account: account, Key: key, Port: s.Port, client: client, pool: s.pool, scheme: s.scheme}
}

// Download reads a blob's bytes.
func (s *Server) Download(t testing.TB, containerName, blobName string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := s.client.DownloadStream(ctx, containerName, blobName, nil)
	if err != nil {
		t.Fatalf("azurite: download %q from container %q: %v", blobName, containerName, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("azurite: download %q from container %q: %v", blobName, containerName, err)
	}
	return data
}

// Names lists the blobs of a container, committed ones only, as Azure
// lists them.
func (s *Server) Names(t testing.TB, containerName string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var names []string
	pager := s.client.NewListBlobsFlatPager(containerName, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("azurite: list container %q: %v", containerName, err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names
}

// ContentType is the type stored with a blob.
func (s *Server) ContentType(t testing.TB, containerName, blobName string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	props, err := s.containerClient(containerName).NewBlobClient(blobName).GetProperties(ctx, nil)
	if err != nil {
		t.Fatalf("azurite: properties of %q in container %q: %v", blobName, containerName, err)
	}
	if props.ContentType == nil {
		return ""
	}
	return *props.ContentType
}
