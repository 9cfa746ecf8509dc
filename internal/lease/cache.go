// Package lease keeps leased secrets (database credentials, leased
// certificates) and certificates issued without a lease per pod, so that a
// republish returns the same credentials while they are valid, instead of
// minting new ones every rotation interval. Static secrets carry no lease
// and no expiry and are never kept.
package lease

import (
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Key identifies a leased secret: the pod it was issued for, the identity
// it logged in as (role, auth mount, audience), the Vault it came from and
// the request that produced it. The login identity is part of it because
// Vault decides per role: a secret read as one role must not be handed to
// a volume of the same pod logging in as another, which Vault may refuse.
type Key struct {
	PodUID    string
	Role      string
	AuthMount string
	Audience  string
	Vault     vault.Config
	Request   string
}

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
}

// Leased reports an entry that holds a lease (revoked with its token).
func (e *Entry) Leased() bool { return !e.certificate }

// Cache is safe for concurrent use.
type Cache struct {
	mu        sync.Mutex
	entries   map[Key]*Entry
	now       func() time.Time
	metrics   *metrics.Metrics
	nextSweep time.Time
}

// New returns an empty cache; m may be nil.
func New(m *metrics.Metrics) *Cache {
	if m == nil {
		m = metrics.NewUnregistered()
	}
	return &Cache{entries: map[Key]*Entry{}, now: time.Now, metrics: m}
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
		c.metrics.Leases.WithLabelValues("reused").Inc()
		return e, Fresh
	case e.renewable && now.Before(e.validUntil):
		return e, Renew
	default:
		c.dropLocked(k, "expired")
		return nil, Missing
	}
}

// Put keeps s, a secret just read with token (which expires at tokenEnd,
// zero for never).
func (c *Cache) Put(k Key, s *api.Secret, token string, tokenEnd time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := &Entry{Secret: s, Token: token, Vault: k.Vault, obtained: now, tokenEnd: tokenEnd, renewable: s.Renewable}
	e.validUntil = capAt(now.Add(time.Duration(s.LeaseDuration)*time.Second), tokenEnd)
	e.validity = e.validUntil.Sub(now)
	c.entries[k] = e
	c.metrics.Leases.WithLabelValues("created").Inc()
	c.sweepLocked(now)
	c.metrics.LeaseCacheSize.Set(float64(len(c.entries)))
}

// PutCertificate keeps s, a certificate without a lease valid over v, just
// issued with token.
func (c *Cache) PutCertificate(k Key, s *api.Secret, v Validity, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	event := "issued"
	if old, ok := c.entries[k]; ok && old.certificate {
		event = "reissued"
	}
	c.entries[k] = &Entry{Secret: s, Token: token, Vault: k.Vault, obtained: now, validUntil: v.End,
		validity: v.End.Sub(v.Start), certificate: true, certStart: v.Start}
	c.metrics.Certificates.WithLabelValues(event).Inc()
	c.sweepLocked(now)
	c.metrics.LeaseCacheSize.Set(float64(len(c.entries)))
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
	c.metrics.Leases.WithLabelValues("renewed").Inc()
	return true
}

// Drop forgets k.
func (c *Cache) Drop(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(k, "expired")
}

// ForgetPod drops the pod's entries and returns them, so the caller can
// revoke what they hold.
func (c *Cache) ForgetPod(uid string) []*Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Entry
	for k, e := range c.entries {
		if k.PodUID == uid {
			out = append(out, e)
			delete(c.entries, k)
		}
	}
	c.metrics.LeaseCacheSize.Set(float64(len(c.entries)))
	return out
}

// PodUIDs lists the pods with kept secrets.
func (c *Cache) PodUIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for k := range c.entries {
		if !seen[k.PodUID] {
			seen[k.PodUID] = true
			out = append(out, k.PodUID)
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

func (c *Cache) dropLocked(k Key, event string) {
	if e, ok := c.entries[k]; ok {
		delete(c.entries, k)
		if !e.certificate {
			c.metrics.Leases.WithLabelValues(event).Inc()
		}
		c.metrics.LeaseCacheSize.Set(float64(len(c.entries)))
	}
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
