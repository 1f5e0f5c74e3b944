package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// keyrings holds one keyring per endpoint, account and identity, shared by
// every transport that uses them and kept across config reloads: a reload
// reuses the key it holds instead of asking Azure again.
var keyrings = caddy.NewUsagePool()

// Bounds of the keyring's work.
const (
	storageScope       = "https://storage.azure.com/.default"
	defaultKeyLifetime = 24 * time.Hour
	maxKeyLifetime     = 7 * 24 * time.Hour // Azure's limit
	keyClockSkew       = 5 * time.Minute    // the key starts this much in the past
	keyRequestTimeout  = 30 * time.Second
	maxRetryWait       = time.Minute
	minRefreshInterval = time.Minute
)

// keyring keeps a valid user delegation key. It asks for none until a
// request needs one (key), so that provisioning, which `caddy validate`
// does too, never needs the network. From then on it renews the key in
// the background (one request) once a quarter of its life is left, and
// retries a failed fetch with backoff, logging each failure; a held key
// serves on meanwhile, and without one requests get 503.
type keyring struct {
	cred     azcore.TokenCredential
	endpoint sas.BlobEndpoint
	account  string
	kind     string // the identity's kind, for the log
	lifetime time.Duration
	// The newest config's: a reload may close the old one's log writer.
	client atomic.Pointer[http.Client]
	logger atomic.Pointer[zap.Logger]
	wake   chan struct{} // a refused token asks for a new key at once
	last   atomic.Int64  // unix nanoseconds of the last fetch, to rate-limit wakes

	current  atomic.Pointer[sas.DelegationKey]
	fetches  atomic.Uint64
	failures atomic.Uint64
	ctx      context.Context // cancelled by Destruct: no fetch outlives the keyring
	cancel   context.CancelFunc
	start    sync.Once // starts run on the first key()
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	fetched chan struct{} // closed when the first fetch ends; nil before it starts and after
}

// keyringID names a keyring by everything that makes its keys: the
// endpoint, the account, the identity with its secret and certificate as
// they are now (a rotated secret behind the same placeholder is another
// keyring), and the connection settings (connection is the http
// transport's JSON). It is a hash, so no secret is kept as a map key.
func keyringID(endpoint sas.BlobEndpoint, account string, id *Identity, connection []byte) (string, error) {
	secret, err := resolveSecret("identity client_secret", id.ClientSecret)
	if err != nil {
		return "", err
	}
	var certificate []byte
	if id.CertificateFile != "" {
		if certificate, err = os.ReadFile(id.CertificateFile); err != nil {
			return "", fmt.Errorf("identity certificate_file: %v", err)
		}
	}
	h := sha256.New()
	raw, _ := json.Marshal(struct {
		Endpoint, Account, Secret string
		Identity                  *Identity
		Certificate, Connection   []byte
	}{endpoint.String(), account, secret, id, certificate, connection})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loadKeyring returns the shared keyring for endpoint, account and id,
// making one (which asks for no key yet) when there is none. Release it
// with keyrings.Delete(name).
func loadKeyring(endpoint sas.BlobEndpoint, account string, id *Identity, connection []byte, client *http.Client, logger *zap.Logger) (*keyring, string, error) {
	name, err := keyringID(endpoint, account, id, connection)
	if err != nil {
		return nil, "", err
	}
	val, loaded, err := keyrings.LoadOrNew(name, func() (caddy.Destructor, error) {
		cred, err := id.tokenCredential(client)
		if err != nil {
			return nil, err
		}
		return newKeyring(cred, client, endpoint, account, id.Kind, id.keyLifetime(), logger), nil
	})
	if err != nil {
		return nil, "", err
	}
	k := val.(*keyring)
	if loaded {
		k.client.Store(client)
		k.logger.Store(logger)
	}
	return k, name, nil
}

// newKeyring makes a keyring for the identity of kind that cred signs in
// as; it fetches nothing until asked for a key.
func newKeyring(cred azcore.TokenCredential, client *http.Client, endpoint sas.BlobEndpoint, account, kind string, lifetime time.Duration, logger *zap.Logger) *keyring {
	k := &keyring{cred: cred, endpoint: endpoint, account: account, kind: kind, lifetime: lifetime,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	k.client.Store(client)
	k.logger.Store(logger)
	k.ctx, k.cancel = context.WithCancel(context.Background())
	return k
}

// errNoDelegationKey answers a request while the keyring has no valid key:
// 503, as the keyring keeps trying. Clients may see it ({err.message}), so
// the reason is only in the log.
var errNoDelegationKey = errors.New("no valid user delegation key: getting one failed and is being retried; see the log")

// key is the key to sign with now. The first call starts the keyring; a
// call that finds no valid key waits for the first fetch while it is in
// flight (bounded by keyRequestTimeout), and else fails with a 503 at
// once.
func (k *keyring) key() (*sas.DelegationKey, error) {
	k.start.Do(func() {
		// Marked in flight before run starts, so that a call racing it waits.
		k.mu.Lock()
		k.fetched = make(chan struct{})
		k.mu.Unlock()
		go k.run()
	})
	if d := k.valid(); d != nil {
		return d, nil
	}
	k.mu.Lock()
	fetched := k.fetched
	k.mu.Unlock()
	if fetched != nil {
		<-fetched
	}
	if d := k.valid(); d != nil {
		return d, nil
	}
	return nil, caddyhttp.Error(http.StatusServiceUnavailable, errNoDelegationKey)
}

// valid is the current key while it has not expired, else nil.
func (k *keyring) valid() *sas.DelegationKey {
	if d := k.current.Load(); d != nil && time.Now().Before(d.Expiry()) {
		return d
	}
	return nil
}

// run gets a key, and then replaces it when a quarter of its life is left;
// a fetch that fails is retried with backoff until one succeeds or the
// keyring is destructed.
func (k *keyring) run() {
	defer close(k.done)
	for {
		if d := k.current.Load(); d != nil && !k.sleep(time.Until(d.Expiry().Add(-k.lifetime/4))) {
			return
		}
		for retry := time.Second; ; retry = min(2*retry, maxRetryWait) {
			err := k.tryFetch()
			if err == nil {
				break
			}
			if k.ctx.Err() != nil {
				return // destructed: not a failure
			}
			k.failures.Add(1)
			k.logFailure(err, retry)
			if !k.sleep(retry) {
				return
			}
		}
	}
}

// tryFetch fetches a key and keeps it. Calls of key that came before the
// first fetch ended wait for it; later ones never wait (a failure would
// keep them for keyRequestTimeout each), and get 503 at once.
func (k *keyring) tryFetch() error {
	ctx, cancel := context.WithTimeout(k.ctx, keyRequestTimeout)
	next, err := k.fetch(ctx)
	cancel()
	if err == nil {
		k.current.Store(next) // before the waiters wake
	}
	k.mu.Lock()
	if k.fetched != nil {
		close(k.fetched)
		k.fetched = nil
	}
	k.mu.Unlock()
	return err
}

// logFailure logs a failed fetch: as a renewal while the held key serves,
// else as the reason requests are refused.
func (k *keyring) logFailure(err error, retry time.Duration) {
	fields := []zap.Field{zap.String("identity", k.kind), zap.String("account", k.account), zap.Duration("retry_in", retry), zap.Error(err)}
	if d := k.valid(); d != nil {
		k.logger.Load().Error("renewing the user delegation key failed; the current one serves until it expires",
			append(fields, logTime("key_expiry", d.Expiry()))...)
		return
	}
	k.logger.Load().Error("no user delegation key: getting one failed, so requests that need one get 503 until it succeeds", fields...)
}

// sleep waits d, or until a refresh is asked; it reports false when the
// keyring is destructed.
func (k *keyring) sleep(d time.Duration) bool {
	timer := time.NewTimer(max(d, 0))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-k.wake:
		return true
	case <-k.stop:
		return false
	}
}

// refresh asks for a new key now (Azure refused a token: the keys may have
// been revoked), at most once a minute.
func (k *keyring) refresh() {
	if time.Since(time.Unix(0, k.last.Load())) < minRefreshInterval {
		return
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// fetch signs in and asks Azure for a key valid from a little before now
// for the keyring's lifetime. Its errors carry no token or key.
func (k *keyring) fetch(ctx context.Context) (*sas.DelegationKey, error) {
	k.fetches.Add(1)
	k.last.Store(time.Now().UnixNano())
	// Caddy's http transport reads a replacer from the context (for a
	// placeholder in tls_server_name, say).
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	tok, err := k.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storageScope}})
	if err != nil {
		return nil, fmt.Errorf("signing in to Microsoft Entra ID: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	// Azure refuses an expiry past 7 days from its own clock: keep a margin.
	body := sas.UserDelegationKeyRequest(now.Add(-keyClockSkew), now.Add(min(k.lifetime, maxKeyLifetime-keyClockSkew)), "")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.endpoint.UserDelegationKeyURL(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("x-ms-version", sas.DefaultVersion)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := k.client.Load().Do(req)
	if err != nil {
		return nil, fmt.Errorf("Get User Delegation Key: %v", err) // the URL holds no secret
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("Get User Delegation Key: reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Get User Delegation Key: %d %s (the identity needs the Storage Blob Delegator role)",
			resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	udk, err := sas.ParseUserDelegationKey(answer)
	if err != nil {
		return nil, err
	}
	return sas.NewDelegationKey(k.account, udk)
}

// Destruct stops the renewal; the usage pool calls it when the last
// transport using the keyring is cleaned up.
func (k *keyring) Destruct() error {
	k.cancel()
	close(k.stop)
	k.start.Do(func() { close(k.done) }) // never asked for a key: nothing runs
	<-k.done
	return nil
}
