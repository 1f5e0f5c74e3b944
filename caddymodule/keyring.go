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
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

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

// keyring keeps a valid user delegation key: fetched at start, renewed in
// the background (one request) once a quarter of its life is left, and
// retried with backoff when that fails, while the key it holds serves on.
type keyring struct {
	cred     azcore.TokenCredential
	endpoint sas.BlobEndpoint
	account  string
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
	stop     chan struct{}
	done     chan struct{}
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
// starting one (with a first key, or a clear error) when there is none.
// Release it with keyrings.Delete(name).
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
		lifetime := time.Duration(id.KeyLifetime)
		if lifetime == 0 {
			lifetime = defaultKeyLifetime
		}
		k, err := startKeyring(cred, client, endpoint, account, lifetime, logger)
		if err != nil {
			return nil, fmt.Errorf("identity %s: getting a user delegation key: %w", id.Kind, err)
		}
		return k, nil
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

// startKeyring fetches a first key and starts renewing it.
func startKeyring(cred azcore.TokenCredential, client *http.Client, endpoint sas.BlobEndpoint, account string, lifetime time.Duration, logger *zap.Logger) (*keyring, error) {
	k := &keyring{cred: cred, endpoint: endpoint, account: account, lifetime: lifetime,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	k.client.Store(client)
	k.logger.Store(logger)
	k.ctx, k.cancel = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(k.ctx, keyRequestTimeout)
	defer cancel()
	first, err := k.fetch(ctx)
	if err != nil {
		k.cancel()
		return nil, err
	}
	k.current.Store(first)
	go k.renew()
	return k, nil
}

// key is the key to sign with now; it fails once the key has expired and
// no renewal has succeeded.
func (k *keyring) key() (*sas.DelegationKey, error) {
	d := k.current.Load()
	if !time.Now().Before(d.Expiry()) {
		return nil, errors.New("the user delegation key has expired and could not be renewed; see the log")
	}
	return d, nil
}

// renew replaces the key when a quarter of its life is left, retrying with
// backoff until it succeeds or the keyring is destructed.
func (k *keyring) renew() {
	defer close(k.done)
	for {
		d := k.current.Load()
		wait := time.Until(d.Expiry().Add(-k.lifetime / 4))
		if !k.sleep(wait) {
			return
		}
		for retry := time.Second; ; retry = min(2*retry, maxRetryWait) {
			ctx, cancel := context.WithTimeout(k.ctx, keyRequestTimeout)
			next, err := k.fetch(ctx)
			cancel()
			if err == nil {
				k.current.Store(next)
				break
			}
			if k.ctx.Err() != nil {
				return // destructed: not a failure
			}
			k.failures.Add(1)
			k.logger.Load().Error("renewing the user delegation key failed; the current one serves until it expires",
				zap.String("account", k.account), zap.Time("key_expiry", d.Expiry()), zap.Duration("retry_in", retry), zap.Error(err))
			if !k.sleep(retry) {
				return
			}
		}
	}
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
	<-k.done
	return nil
}
