package sas

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// SignerOptions configures a Signer.
type SignerOptions struct {
	// TTL is the lifetime of each token; required.
	TTL time.Duration

	// RenewBefore: a cached token with less than this left is signed again.
	// Zero means TTL/4. It must be below TTL.
	RenewBefore time.Duration

	// Backdate sets st this far before the signing time, for clocks behind
	// Azure's. Zero omits st: the token is valid at once.
	Backdate time.Duration

	// MaxEntries bounds the token cache; zero means DefaultMaxEntries.
	MaxEntries int

	// MaxBytes bounds the token cache's memory, counted as the bytes of each cache key and token plus EntryOverhead; zero
	// means DefaultMaxBytes.
	MaxBytes int

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Signer makes and caches service SAS tokens for the blobs of one container
// (or of any, when made without one), from values fixed when it is made.
// With Resource c one token serves the whole container; otherwise each blob
// gets its own (least privilege).
// It is safe for concurrent use.
type Signer struct {
	key      *SharedKey
	keys     func() (*DelegationKey, error) // a user-delegation signer's current key
	values   ServiceValues
	tmpl     template
	perBlob  bool
	ttl      time.Duration
	backdate time.Duration
	now      func() time.Time
	cache    *tokenCache

	withHeaders atomic.Bool // TokenWithHeaders has cached tokens: Invalidate looks for them
}

// NewSigner checks v and the options. v.Blob must be empty (the blob comes
// with each call); v.Start and v.Expiry must be zero (they come from the
// options). v.Resource is b (the default) or c. With v.Container empty the
// signer serves any container, named with each call to Token.
func NewSigner(key *SharedKey, v ServiceValues, opts SignerOptions) (*Signer, error) {
	if key == nil {
		return nil, errors.New("no shared key to sign with")
	}
	s, err := newSigner(v, opts)
	if err != nil {
		return nil, err
	}
	s.key = key
	return s, nil
}

// newSigner checks v and the options and makes a signer without its key.
func newSigner(v ServiceValues, opts SignerOptions) (*Signer, error) {
	if v.Blob != "" || v.Snapshot != "" || v.VersionID != "" {
		return nil, errors.New("a signer's values name no blob, snapshot or version; they come with each token")
	}
	if !v.Start.IsZero() || !v.Expiry.IsZero() {
		return nil, errors.New("a signer's values carry no start or expiry; use the ttl and backdate options")
	}
	switch {
	case opts.TTL <= 0:
		return nil, fmt.Errorf("ttl %s must be positive", opts.TTL)
	case opts.TTL%time.Second != 0 || opts.TTL < time.Second:
		return nil, fmt.Errorf("ttl %s must be whole seconds: SAS times have no fractions", opts.TTL)
	case opts.RenewBefore < 0:
		return nil, fmt.Errorf("renew_before %s is negative", opts.RenewBefore)
	case opts.RenewBefore >= opts.TTL:
		return nil, fmt.Errorf("renew_before %s must be less than ttl %s", opts.RenewBefore, opts.TTL)
	case opts.Backdate < 0:
		return nil, fmt.Errorf("backdate %s is negative", opts.Backdate)
	}
	if opts.RenewBefore == 0 {
		opts.RenewBefore = opts.TTL / 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Signer{values: v, ttl: opts.TTL, backdate: opts.Backdate, now: opts.Now}
	switch v.Resource {
	case "", ResourceBlob:
		s.values.Resource, s.perBlob = ResourceBlob, true
	case ResourceContainer:
	default:
		return nil, errors.New("a signer makes blob (b) or container (c) tokens only")
	}
	t, err := s.checkedTemplate(&s.values)
	if err != nil {
		return nil, err
	}
	s.tmpl = t
	if s.cache, err = newTokenCache(tokenCacheOptions{MaxEntries: opts.MaxEntries, MaxBytes: opts.MaxBytes, RenewBefore: opts.RenewBefore, Now: opts.Now}); err != nil {
		return nil, err
	}
	return s, nil
}

// Token returns a token for blob in container, from the cache when one is
// fresh enough. A signer made for a container refuses any other; one made
// without serves any. A container signer returns its one token whatever
// the blob.
func (s *Signer) Token(container, blob string) (Token, error) {
	key, err := s.cacheKey(container, blob)
	if err != nil {
		return Token{}, err
	}
	return s.cache.Get(key, s.signFor)
}

// ResponseHeaders are response header overrides: Azure answers a request
// made with the token with these values instead of the blob's own
// properties (rscc, rscd, rsce, rscl, rsct).
type ResponseHeaders struct {
	CacheControl       string // rscc: Cache-Control
	ContentDisposition string // rscd: Content-Disposition
	ContentEncoding    string // rsce: Content-Encoding
	ContentLanguage    string // rscl: Content-Language
	ContentType        string // rsct: Content-Type
}

// TokenWithHeaders is Token with response header overrides of the
// call's own: each field of h that is set replaces the signer's, the rest
// stay as the signer signs them. A server that serves what users uploaded
// decides a blob's type and disposition per blob and signs them in. Tokens
// are cached by blob and headers together, in the signer's one cache.
func (s *Signer) TokenWithHeaders(container, blob string, h ResponseHeaders) (Token, error) {
	if h == (ResponseHeaders{}) {
		return s.Token(container, blob)
	}
	fields := h.fields()
	for _, f := range fields {
		// The cache key joins the fields with '\n': one that held a control
		// character could pass for others. Checked again when signing.
		if hasControl(f) {
			return Token{}, errors.New("a response header override has a control character")
		}
	}
	key, err := s.cacheKey(container, blob)
	if err != nil {
		return Token{}, err
	}
	s.withHeaders.Store(true)
	return s.cache.Get(key+"\n"+strings.Join(fields[:], "\n"), s.signFor)
}

// fields lists h in the order its cache key writes them.
func (h ResponseHeaders) fields() [5]string {
	return [5]string{h.CacheControl, h.ContentDisposition, h.ContentEncoding, h.ContentLanguage, h.ContentType}
}

// overrideInto sets on v the fields of h that are set.
func (h ResponseHeaders) overrideInto(v *ServiceValues) {
	for _, f := range [...]struct {
		value string
		into  *string
	}{
		{h.CacheControl, &v.CacheControl}, {h.ContentDisposition, &v.ContentDisposition}, {h.ContentEncoding, &v.ContentEncoding},
		{h.ContentLanguage, &v.ContentLanguage}, {h.ContentType, &v.ContentType},
	} {
		if f.value != "" {
			*f.into = f.value
		}
	}
}

// Invalidate drops the cached token that served blob in container, so the
// next Token signs afresh (after Azure refused it). The tokens
// TokenWithHeaders signed for the blob go too.
func (s *Signer) Invalidate(container, blob string) {
	key, err := s.cacheKey(container, blob)
	if err != nil {
		return
	}
	s.cache.Invalidate(key)
	if s.withHeaders.Load() {
		withHeaders := key + "\n"
		s.cache.InvalidateWhere(func(k string) bool { return strings.HasPrefix(k, withHeaders) })
	}
}

// Stats returns the cache's counters.
func (s *Signer) Stats() CacheStats { return s.cache.Stats() }

// cacheKey is what a token depends on apart from the fixed values: the blob
// in blob scope, and the container when it is not fixed, written first
// ("container/blob": container names hold no '/'). A fixed container keeps
// the key to the blob name, so a cache hit allocates nothing.
//
// A '\n' marks the headers of a TokenWithHeaders key, so no blob name may
// hold one (nor may a container name: it is checked in full), or signFor
// would read what follows it as headers.
func (s *Signer) cacheKey(container, blob string) (string, error) {
	if !s.perBlob {
		blob = ""
	}
	switch {
	case strings.IndexByte(blob, '\n') >= 0:
		return "", errors.New("blob name has a control character")
	case s.values.Container != "" && container != s.values.Container:
		return "", fmt.Errorf("this signer signs for container %q only", s.values.Container)
	case s.values.Container != "":
		return blob, nil
	}
	// Checked before it is a key: "a/b" and "x.png" would be the key of
	// "a" and "b/x.png".
	if err := CheckContainerName(container); err != nil {
		return "", err
	}
	return container + "/" + blob, nil
}

// signFor signs a fresh token; its expiry is whole seconds, as written in se,
// so the cache never trusts it a moment longer than Azure will. A key from
// TokenWithHeaders carries the headers after a '\n'.
func (s *Signer) signFor(key string) (Token, error) {
	key, headers, withHeaders := strings.Cut(key, "\n")
	tmpl := &s.tmpl
	if withHeaders {
		var err error
		if tmpl, err = s.templateWithHeaders(headers); err != nil {
			return Token{}, err
		}
	}
	container, blob := s.values.Container, key
	if container == "" {
		container, blob, _ = strings.Cut(key, "/") // cacheKey checked the container
	}
	if s.perBlob {
		if err := CheckBlobName(blob); err != nil {
			return Token{}, err
		}
	}
	now := s.now()
	var start time.Time
	if s.backdate > 0 {
		start = now.Add(-s.backdate).Truncate(time.Second)
	}
	expiry := now.Add(s.ttl)
	if s.keys == nil {
		return tmpl.sign(s.key, nil, container, blob, start, expiry.Truncate(time.Second)), nil
	}
	d, err := s.keys()
	if err != nil {
		return Token{}, err
	}
	// A token lives no longer than the key that signs it.
	if d.Expiry().Before(expiry) {
		expiry = d.Expiry()
	}
	if expiry = expiry.Truncate(time.Second); !expiry.After(now) {
		return Token{}, errors.New("the user delegation key has expired")
	}
	if err := tmpl.checkDelegation(d, expiry); err != nil {
		return Token{}, err
	}
	return tmpl.sign(nil, d, container, blob, start, expiry), nil
}

// templateWithHeaders is the signer's template with the headers of a
// TokenWithHeaders cache key ('\n' between them) in place of its own,
// checked as NewSigner checks the signer's values.
func (s *Signer) templateWithHeaders(encoded string) (*template, error) {
	f := strings.SplitN(encoded, "\n", 5)
	if len(f) != 5 {
		return nil, errors.New("a malformed token cache key")
	}
	v := s.values
	ResponseHeaders{CacheControl: f[0], ContentDisposition: f[1], ContentEncoding: f[2], ContentLanguage: f[3], ContentType: f[4]}.overrideInto(&v)
	t, err := s.checkedTemplate(&v)
	if err != nil {
		return nil, err
	}
	if s.keys != nil {
		if err := t.checkDelegationValues(); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// checkedTemplate checks v as the signer's tokens carry it (with a blob
// in blob scope, a container, an expiry) and returns its template, which
// points at v.
func (s *Signer) checkedTemplate(v *ServiceValues) (template, error) {
	probe := *v
	probe.Expiry = s.now().Add(s.ttl)
	if s.perBlob {
		probe.Blob = "probe"
	}
	if probe.Container == "" {
		probe.Container = "probe"
	}
	t, err := probe.check()
	if err != nil {
		return template{}, err
	}
	t.v = v // not the probe
	return t, nil
}

// NewDelegationSigner is NewSigner for user-delegation tokens: keys returns
// the current user delegation key for each signing (the caller keeps it
// fresh), and each token expires at the ttl or with its key, whichever
// comes first.
func NewDelegationSigner(keys func() (*DelegationKey, error), v ServiceValues, opts SignerOptions) (*Signer, error) {
	if keys == nil {
		return nil, errors.New("no user delegation key source to sign with")
	}
	s, err := newSigner(v, opts)
	if err != nil {
		return nil, err
	}
	if err := s.tmpl.checkDelegationValues(); err != nil {
		return nil, err
	}
	s.keys = keys
	return s, nil
}
