// Package lease keeps leased secrets (database credentials, leased
// certificates) and certificates issued without a lease per pod, so that a
// republish returns the same credentials while they are valid, instead of
// minting new ones every rotation interval. Static secrets carry no lease
// and no expiry and are never kept. What is kept is bounded in bytes, for
// each pod and for the node (Options).
package lease

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// State says what a lookup found.
type State int

const (
	// Missing: nothing usable is kept; read anew.
	Missing State = iota
	// Fresh: within the first two thirds of its validity; use it.
	Fresh
	// Renew: past two thirds but renewable; renew, then use it.
	Renew
)

// Default bounds on the memory kept: leased reads of up to 8 MiB each
// could otherwise let one pod keep hundreds of MiB. A leased certificate
// with its chain takes about 9 KiB as entryBytes counts it, database
// credentials about 3 KiB: 4 MiB keeps some 450 certificates for a pod,
// 32 MiB some 3,600 for the node, an eighth of the DaemonSet's 256 MiB
// limit, beside what running mounts hold (up to -max-response-bytes,
// 32 MiB, each).
const (
	DefaultMaxBytesPerPod = 4 << 20
	DefaultMaxBytes       = 32 << 20
)

// Options bound a cache; zero fields take the defaults. An entry larger
// than either bound is not kept.
type Options struct {
	// MaxBytesPerPod bounds the memory kept for one pod: past it, the
	// pod's least recently used entries are dropped.
	MaxBytesPerPod int
	// MaxBytes bounds the memory kept for all pods: past it, the node's
	// least recently used entries are dropped, whoever's they are.
	MaxBytes int
	// Metrics may be nil.
	Metrics *metrics.Metrics
}

// Entry is one kept secret: leased, or a certificate (no lease).
type Entry struct {
	Secret *api.Secret
	// Token created the lease, at Vault; Vault revokes the lease when the
	// token goes.
	Token      string
	Vault      vault.Config
	obtained   time.Time
	validUntil time.Time // the lease's end, capped by its token's
	// renewable is kept here, not in Secret, which other readers share.
	renewable bool
	tokenEnd  time.Time // zero: the token does not expire
	// validity is validUntil-obtained as put, kept across renewals: a
	// renewal must leave a third of it.
	validity time.Duration
	// certificate is set for a certificate without a lease, valid from
	// certStart to validUntil; Vault does not revoke it with its token.
	certificate bool
	certStart   time.Time
	// used is the last mount it served, for the state file.
	used time.Time
	// key is where the entry is kept.
	key Key
	// size is the memory the entry keeps (entryBytes).
	size int
	// node and pod are the entry's places in the node's and its pod's
	// lists, the most recently used first.
	node, pod *list.Element
}

// Leased reports an entry that holds a lease (revoked with its token).
func (e *Entry) Leased() bool { return !e.certificate }

// Cache is safe for concurrent use. It holds at most Options.MaxBytes,
// and Options.MaxBytesPerPod for one pod, as entryBytes estimates them.
//
// A lease dropped to stay within them is not revoked: the pod's files may
// hold its credentials, in use, until its next mount reads new ones. It
// ends at Vault with its TTL, or with its token: when the pod is deleted,
// the provider revokes the tokens it still holds for it
// (-revoke-on-pod-delete), and with them their leases. A dropped
// certificate is forgotten; the pod's next mount is issued a new one.
type Cache struct {
	mu      sync.Mutex
	entries map[Key]*Entry
	// pods holds each pod's entries. A pod here is a pod UID with the
	// namespace and service account it mounts for: the sync controller
	// sends one pod UID for the SecretSyncs of every namespace, and each
	// of them gets its own bound, so that one tenant never pushes out
	// another's entries.
	pods map[podKey]*podEntries
	// lru lists every entry, the most recently used first.
	lru             list.List
	bytes           int
	maxPod, maxNode int
	now             func() time.Time
	metrics         *metrics.Metrics
	nextSweep       time.Time
	// changes counts entries kept, renewed and dropped, for the state
	// writer.
	changes atomic.Uint64
}

// podEntries lists one pod's entries, the most recently used first.
type podEntries struct {
	lru   list.List
	bytes int
}

// New returns an empty cache.
func New(o Options) *Cache {
	c := &Cache{entries: map[Key]*Entry{}, pods: map[podKey]*podEntries{}, maxPod: o.MaxBytesPerPod, maxNode: o.MaxBytes,
		now: time.Now, metrics: o.Metrics}
	if c.maxPod == 0 {
		c.maxPod = DefaultMaxBytesPerPod
	}
	if c.maxNode == 0 {
		c.maxNode = DefaultMaxBytes
	}
	if c.metrics == nil {
		c.metrics = metrics.NewUnregistered()
	}
	return c
}

// Kept reports whether a secret carries a lease worth keeping.
func Kept(s *api.Secret) bool {
	return s != nil && s.LeaseID != "" && s.LeaseDuration > 0
}

// Get looks k up for a mount under policy p. Entries past their validity
// are dropped; a certificate that is due is kept until its replacement is
// put, so that the replacement counts as reissued, but never returned.
func (c *Cache) Get(k Key, p Policy) (*Entry, State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, Missing
	}
	now := c.now()
	if e.certificate {
		switch {
		case !now.Before(e.validUntil):
			c.dropLocked(k, "expired")
		case !p.NoCertificates && now.Before(p.dueAt(e.certStart, e.validUntil)):
			c.touchLocked(e)
			c.metrics.Certificates.WithLabelValues("reused").Inc()
			return e, Fresh
		}
		return nil, Missing
	}
	if p.NoLeases {
		return nil, Missing
	}
	switch {
	case now.Before(refreshAt(e.obtained, e.validUntil)):
		c.touchLocked(e)
		c.metrics.Leases.WithLabelValues("reused").Inc()
		return e, Fresh
	case e.renewable && now.Before(e.validUntil):
		c.touchLocked(e)
		return e, Renew
	default:
		c.dropLocked(k, "expired")
		return nil, Missing
	}
}

// Put keeps s, a secret just read with token (which expires at tokenEnd,
// zero for never).
func (c *Cache) Put(k Key, s *api.Secret, token string, tokenEnd time.Time) {
	// Sized before locking: a secret of many values takes a while.
	size := entryBytes(k, s, token)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := &Entry{Secret: s, Token: token, Vault: k.Vault, obtained: now, tokenEnd: tokenEnd, renewable: s.Renewable, size: size}
	e.validUntil = capAt(now.Add(time.Duration(s.LeaseDuration)*time.Second), tokenEnd)
	e.validity = e.validUntil.Sub(now)
	e.used = now
	c.metrics.Leases.WithLabelValues("created").Inc()
	c.keepLocked(k, e, now)
}

// PutCertificate keeps s, a certificate without a lease valid over v, just
// issued with token.
func (c *Cache) PutCertificate(k Key, s *api.Secret, v Validity, token string) {
	size := entryBytes(k, s, token)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	event := "issued"
	if old, ok := c.entries[k]; ok && old.certificate {
		event = "reissued"
	}
	c.metrics.Certificates.WithLabelValues(event).Inc()
	c.keepLocked(k, &Entry{Secret: s, Token: token, Vault: k.Vault, obtained: now, validUntil: v.End,
		validity: v.End.Sub(v.Start), certificate: true, certStart: v.Start, size: size, used: now}, now)
}

// NotKept counts a certificate issued for a mount whose policy keeps none,
// so certificates_total shows every certificate the provider had issued.
func (c *Cache) NotKept() {
	c.metrics.Certificates.WithLabelValues("issued").Inc()
}

// Renewed records a renewal of k's lease that granted ttl. It reports
// whether the entry is worth using: a lease at the end of its max TTL
// comes back with too little time, and is read anew instead.
func (c *Cache) Renewed(k Key, ttl time.Duration, renewable bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.certificate {
		return false
	}
	now := c.now()
	until := capAt(now.Add(ttl), e.tokenEnd)
	// Less than a third of the original validity left: not worth keeping.
	if until.Sub(now) < e.validity/3 {
		c.dropLocked(k, "expired")
		return false
	}
	e.renewable = renewable
	e.obtained, e.validUntil = now, until
	c.changes.Add(1)
	c.metrics.Leases.WithLabelValues("renewed").Inc()
	return true
}

// Drop forgets k.
func (c *Cache) Drop(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(k, "expired")
}

// ForgetPod drops the entries of the pod UID, for every namespace and
// service account, and returns them, so the caller can revoke what they
// hold.
func (c *Cache) ForgetPod(uid string) []*Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Entry
	for k, p := range c.pods {
		if k.uid != uid {
			continue
		}
		for el := p.lru.Front(); el != nil; el = el.Next() {
			out = append(out, el.Value.(*Entry))
		}
	}
	if out == nil {
		return nil
	}
	for _, e := range out {
		c.removeLocked(e)
	}
	c.setGaugesLocked()
	return out
}

// PodUIDs lists the pods with kept secrets.
func (c *Cache) PodUIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]bool, len(c.pods))
	out := make([]string, 0, len(c.pods))
	for k := range c.pods {
		if !seen[k.uid] {
			seen[k.uid] = true
			out = append(out, k.uid)
		}
	}
	return out
}

// Len is the number of kept secrets.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// keepLocked keeps e under k in place of any entry there, first dropping
// the least recently used entries, of k's pod and then of the node, that
// leave it no room.
func (c *Cache) keepLocked(k Key, e *Entry, now time.Time) {
	defer c.setGaugesLocked()
	c.sweepLocked(now)
	if old, ok := c.entries[k]; ok {
		c.removeLocked(old)
	}
	if e.size > c.maxPod || e.size > c.maxNode {
		c.metrics.LeaseCacheDropped.WithLabelValues("too_large").Inc()
		return
	}
	for p := c.pods[k.pod()]; p != nil && p.bytes+e.size > c.maxPod; p = c.pods[k.pod()] {
		c.evictLocked(p.lru.Back(), "pod_limit")
	}
	for c.bytes+e.size > c.maxNode {
		c.evictLocked(c.lru.Back(), "node_limit")
	}
	p, ok := c.pods[k.pod()]
	if !ok {
		p = &podEntries{}
		c.pods[k.pod()] = p
	}
	e.key = k
	c.changes.Add(1)
	e.node, e.pod = c.lru.PushFront(e), p.lru.PushFront(e)
	p.bytes += e.size
	c.bytes += e.size
	c.entries[k] = e
}

func (c *Cache) evictLocked(el *list.Element, reason string) {
	c.removeLocked(el.Value.(*Entry))
	c.metrics.LeaseCacheDropped.WithLabelValues(reason).Inc()
}

func (c *Cache) touchLocked(e *Entry) {
	e.used = c.now()
	c.lru.MoveToFront(e.node)
	c.pods[e.key.pod()].lru.MoveToFront(e.pod)
}

// removeLocked takes e out of the cache; the caller updates the gauges.
func (c *Cache) removeLocked(e *Entry) {
	c.changes.Add(1)
	delete(c.entries, e.key)
	c.lru.Remove(e.node)
	c.bytes -= e.size
	p := c.pods[e.key.pod()]
	p.lru.Remove(e.pod)
	p.bytes -= e.size
	if p.lru.Len() == 0 {
		delete(c.pods, e.key.pod())
	}
}

func (c *Cache) dropLocked(k Key, event string) {
	if e, ok := c.entries[k]; ok {
		c.removeLocked(e)
		if !e.certificate {
			c.metrics.Leases.WithLabelValues(event).Inc()
		}
		c.setGaugesLocked()
	}
}

func (c *Cache) setGaugesLocked() {
	c.metrics.LeaseCacheSize.Set(float64(len(c.entries)))
	c.metrics.LeaseCacheBytes.Set(float64(c.bytes))
}

// sweepLocked drops expired entries once a minute, so pods that stopped
// mounting (without a pod watch to report them gone) do not pin memory.
func (c *Cache) sweepLocked(now time.Time) {
	if now.Before(c.nextSweep) {
		return
	}
	c.nextSweep = now.Add(time.Minute)
	for k, e := range c.entries {
		if !now.Before(e.validUntil) {
			c.dropLocked(k, "expired")
		}
	}
}

// refreshAt is two thirds into the validity, as Vault Agent renews.
func refreshAt(obtained, validUntil time.Time) time.Time {
	return obtained.Add(validUntil.Sub(obtained) * 2 / 3)
}

func capAt(t, limit time.Time) time.Time {
	if !limit.IsZero() && limit.Before(t) {
		return limit
	}
	return t
}
