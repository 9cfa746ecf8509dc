package lease

import (
	"time"

	"github.com/hashicorp/vault/api"
)

// Saved is a kept entry as the state file keeps it across restarts. The
// state file encodes Secret itself.
type Saved struct {
	Key         Key
	Secret      *api.Secret `json:"-"`
	Token       string
	Obtained    time.Time
	ValidUntil  time.Time
	Renewable   bool
	TokenEnd    time.Time
	Validity    time.Duration
	Certificate bool
	CertStart   time.Time
	Used        time.Time
}

// String keeps the token and the secret out of logs and errors.
func (s Saved) String() string { return "saved lease entry for pod " + s.Key.PodUID }

// Save lists the kept entries, the most recently used first.
func (c *Cache) Save() []Saved {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Saved, 0, len(c.entries))
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*Entry)
		out = append(out, Saved{Key: e.key, Secret: e.Secret, Token: e.Token, Obtained: e.obtained, ValidUntil: e.validUntil,
			Renewable: e.renewable, TokenEnd: e.tokenEnd, Validity: e.validity, Certificate: e.certificate, CertStart: e.certStart,
			Used: e.used})
	}
	return out
}

// Restore keeps the entries a state file held, within the cache's bounds,
// the most recently used first, leaving out those that have ended by now:
// a lease that expired while the provider was down is never returned. It
// returns how many leases and certificates it kept.
func (c *Cache) Restore(saved []Saved) (leases, certificates int) {
	now := c.now()
	for i := len(saved) - 1; i >= 0; i-- {
		s := saved[i]
		if s.Secret == nil || !now.Before(s.ValidUntil) {
			continue
		}
		e := &Entry{Secret: s.Secret, Token: s.Token, Vault: s.Key.Vault, obtained: s.Obtained, validUntil: s.ValidUntil,
			renewable: s.Renewable, tokenEnd: s.TokenEnd, validity: s.Validity, certificate: s.Certificate, certStart: s.CertStart,
			used: s.Used, size: entryBytes(s.Key, s.Secret, s.Token)}
		c.mu.Lock()
		if _, ok := c.entries[s.Key]; !ok {
			c.keepLocked(s.Key, e, now)
			if _, kept := c.entries[s.Key]; kept && s.Certificate {
				certificates++
			} else if kept {
				leases++
			}
		}
		c.mu.Unlock()
	}
	return leases, certificates
}

// Changes counts the entries kept, renewed and dropped, for the state
// writer.
func (c *Cache) Changes() uint64 { return c.changes.Load() }
