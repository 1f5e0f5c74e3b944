package caddymodule

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics, read from each reader's counters when Prometheus scrapes, so
// requests pay nothing for them. Labels come from the configuration only.
var (
	metricLabels      = []string{"account", "container"}
	metricSignatures  = metricDesc("signatures_total", "Tokens signed: cache misses and renewals.")
	metricCacheHits   = metricDesc("token_cache_hits_total", "Requests served a cached token.")
	metricCacheMisses = metricDesc("token_cache_misses_total", "Requests that found no usable cached token.")
	metricRenewals    = metricDesc("token_renewals_total", "Cached tokens signed again as they neared expiry.")
	metricAuthFailure = metricDesc("upstream_auth_failures_total", "Answers of 401 or 403 from Azure, after any re-signing.")
	metricFallbacks   = metricDesc("fallbacks_total", "Requests sent to this origin because an earlier origin had no such blob.")
	metricRedirects   = metricDesc("redirects_total", "Redirects to a blob's URL with a SAS, instead of proxying it.")
	metricTokenExpiry = metricDesc("sas_token_expiry_seconds", "Seconds until the configured sas_token expires (negative: expired).")
	metricKeyFailures = metricDesc("delegation_key_failures_total", "Failed attempts to get or renew the identity's user delegation key.")
)

func metricDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("caddy", "azure_blob", name), help, metricLabels, nil)
}

// transportCounters are what a reader counts itself, and when it last
// wrote a log line that must not be written per request.
type transportCounters struct {
	authFailures atomic.Uint64
	fallbacks    atomic.Uint64
	redirects    atomic.Uint64

	containerNotFoundLogged pace
}

// blobCollector reports the metrics of the readers (of transports and
// redirects) provisioned with one Prometheus registry (one per loaded
// config), summed by label values, and the key failures of the other
// modules' authorities (azure_sas's).
type blobCollector struct {
	mu          sync.Mutex
	readers     map[*reader]struct{}
	authorities map[*authority]string // the container each signs for
}

var (
	collectorsMu sync.Mutex
	collectors   = make(map[*prometheus.Registry]*blobCollector)
)

// registerMetrics adds r to the collector of registry, registering that
// collector the first time.
func registerMetrics(registry *prometheus.Registry, r *reader) error {
	r.metricsRegistry = registry
	return changeCollector(registry, func(c *blobCollector) { c.readers[r] = struct{}{} })
}

// unregisterMetrics removes r.
func unregisterMetrics(r *reader) {
	_ = changeCollector(r.metricsRegistry, func(c *blobCollector) { delete(c.readers, r) })
}

// registerAuthority adds a module's authority that signs for container,
// for the failures of its identity's keyring.
func registerAuthority(registry *prometheus.Registry, a *authority, container string) error {
	return changeCollector(registry, func(c *blobCollector) { c.authorities[a] = container })
}

// unregisterAuthority removes a.
func unregisterAuthority(registry *prometheus.Registry, a *authority) {
	_ = changeCollector(registry, func(c *blobCollector) { delete(c.authorities, a) })
}

// changeCollector applies change to the collector of registry, registering
// that collector the first time; a collector left empty is forgotten with
// its registry's config.
func changeCollector(registry *prometheus.Registry, change func(*blobCollector)) error {
	if registry == nil {
		return nil
	}
	collectorsMu.Lock()
	defer collectorsMu.Unlock()
	c := collectors[registry]
	if c == nil {
		c = &blobCollector{readers: make(map[*reader]struct{}), authorities: make(map[*authority]string)}
		if err := registry.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
		collectors[registry] = c
	}
	c.mu.Lock()
	change(c)
	empty := len(c.readers) == 0 && len(c.authorities) == 0
	c.mu.Unlock()
	if empty {
		delete(collectors, registry)
	}
	return nil
}

// Describe sends the descriptions of every metric.
func (c *blobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metricSignatures, metricCacheHits, metricCacheMisses, metricRenewals,
		metricAuthFailure, metricFallbacks, metricRedirects, metricTokenExpiry, metricKeyFailures} {
		ch <- d
	}
}

// metricSums are the counts of one account and container.
type metricSums struct {
	signatures, hits, misses, renewals, authFailures, fallbacks, redirects, keyFailures float64
	expiry                                                                              *time.Time // the soonest sas_token expiry
	keyrings                                                                            map[*keyring]bool
}

// addKeyFailures adds the failures of k, once: modules share keyrings.
func (s *metricSums) addKeyFailures(k *keyring) {
	if k == nil || s.keyrings[k] {
		return
	}
	if s.keyrings == nil {
		s.keyrings = make(map[*keyring]bool)
	}
	s.keyrings[k] = true
	s.keyFailures += float64(k.failures.Load())
}

// Collect sums the readers' counts by account and container.
func (c *blobCollector) Collect(ch chan<- prometheus.Metric) {
	type labels struct{ account, container string }
	totals := make(map[labels]*metricSums)
	sumsOf := func(l labels) *metricSums {
		s := totals[l]
		if s == nil {
			s = new(metricSums)
			totals[l] = s
		}
		return s
	}
	c.mu.Lock()
	for t := range c.readers {
		s := sumsOf(labels{t.auth.account, t.Container})
		if signing, ok := t.reads.(signingCredential); ok {
			st := signing.signer.Stats()
			s.signatures += float64(st.Misses + st.Renewals)
			s.hits += float64(st.Hits + st.Waits)
			s.misses += float64(st.Misses)
			s.renewals += float64(st.Renewals)
		}
		s.authFailures += float64(t.counters.authFailures.Load())
		s.fallbacks += float64(t.counters.fallbacks.Load())
		s.redirects += float64(t.counters.redirects.Load())
		s.addKeyFailures(t.auth.keyring)
		if tok := t.auth.token; tok != nil && !tok.Expiry.IsZero() && (s.expiry == nil || tok.Expiry.Before(*s.expiry)) {
			s.expiry = &tok.Expiry
		}
	}
	for a, container := range c.authorities {
		sumsOf(labels{a.account, container}).addKeyFailures(a.keyring)
	}
	c.mu.Unlock()
	for l, s := range totals {
		for _, m := range []struct {
			desc  *prometheus.Desc
			value float64
		}{
			{metricSignatures, s.signatures}, {metricCacheHits, s.hits}, {metricCacheMisses, s.misses},
			{metricRenewals, s.renewals}, {metricAuthFailure, s.authFailures}, {metricFallbacks, s.fallbacks},
			{metricRedirects, s.redirects}, {metricKeyFailures, s.keyFailures},
		} {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.value, l.account, l.container)
		}
		if s.expiry != nil {
			ch <- prometheus.MustNewConstMetric(metricTokenExpiry, prometheus.GaugeValue, time.Until(*s.expiry).Seconds(), l.account, l.container)
		}
	}
}

// issuedCounter counts the URLs an azure_sas handler issued, by account,
// container and the permissions they grant.
type issuedCounter struct{ vec *prometheus.CounterVec }

// registerIssued registers the counter with registry, or finds the one an
// earlier handler of the same config registered.
func registerIssued(registry *prometheus.Registry) (*issuedCounter, error) {
	if registry == nil {
		return &issuedCounter{}, nil
	}
	vec, err := registerCounterVec(registry, prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "azure_sas", Name: "issued_total",
		Help: "SAS URLs issued by azure_sas, by the permissions they grant.",
	}, "account", "container", "permissions")
	if err != nil {
		return nil, err
	}
	return &issuedCounter{vec}, nil
}

// add counts one URL.
func (c *issuedCounter) add(account, container, permissions string) {
	if c.vec != nil {
		c.vec.WithLabelValues(account, container, permissions).Inc()
	}
}

// uploadCounter counts azure_upload's uploads by container and result
// (created, too_large, type, exists, aborted, error), and the bytes they
// took.
type uploadCounter struct {
	uploads *prometheus.CounterVec
	bytes   *prometheus.CounterVec
}

// registerUploads registers the counters with registry, or finds those an
// earlier handler of the same config registered.
func registerUploads(registry *prometheus.Registry) (*uploadCounter, error) {
	if registry == nil {
		return &uploadCounter{}, nil
	}
	uploads, err := registerCounterVec(registry, prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "azure", Name: "uploads_total",
		Help: "Uploads taken by azure_upload, by result: created, too_large, type, exists, aborted or error.",
	}, "container", "result")
	if err != nil {
		return nil, err
	}
	taken, err := registerCounterVec(registry, prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "azure", Name: "upload_bytes_total",
		Help: "Bytes of the uploads azure_upload took, stored or not.",
	}, "container")
	if err != nil {
		return nil, err
	}
	return &uploadCounter{uploads: uploads, bytes: taken}, nil
}

// registerCounterVec registers a counter vector with registry, or returns
// the one registered already.
func registerCounterVec(registry *prometheus.Registry, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(opts, labels)
	if err := registry.Register(vec); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return nil, err
		}
		vec = already.ExistingCollector.(*prometheus.CounterVec)
	}
	return vec, nil
}

// add counts one upload of size bytes with its result.
func (c *uploadCounter) add(container, result string, size int64) {
	if c == nil || c.uploads == nil {
		return
	}
	c.uploads.WithLabelValues(container, result).Inc()
	c.bytes.WithLabelValues(container).Add(float64(size))
}
