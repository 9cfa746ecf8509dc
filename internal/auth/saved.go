package auth

import (
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Saved is a cached token as the state file keeps it across restarts.
type Saved struct {
	Pod       Pod
	Role      string
	AuthMount string
	Audience  string
	Vault     vault.Config
	Token     string
	RefreshAt time.Time
	Expires   time.Time
	Used      time.Time
}

// String keeps the token out of logs and errors.
func (s Saved) String() string { return "saved vault token for pod " + s.Pod.UID }

// Save lists the cached tokens, the most recently used first.
func (a *Authenticator) Save() []Saved {
	c := a.cache
	if c.lru == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := c.lru.Keys() // the oldest first
	out := make([]Saved, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		t, ok := c.lru.Peek(k)
		if !ok {
			continue
		}
		out = append(out, Saved{Pod: k.pod, Role: k.role, AuthMount: k.authMount, Audience: k.audience, Vault: k.vault,
			Token: t.token, RefreshAt: t.refreshAt, Expires: t.expires, Used: t.used})
	}
	return out
}

// Restore caches the tokens a state file held, the most recently used
// first, leaving out those due for a new login by now; it returns how many
// it kept.
func (a *Authenticator) Restore(saved []Saved) int {
	c := a.cache
	if c.lru == nil {
		return 0
	}
	now := a.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i := len(saved) - 1; i >= 0; i-- {
		s := saved[i]
		if s.Token == "" || (!s.RefreshAt.IsZero() && !now.Before(s.RefreshAt)) {
			continue
		}
		k := cacheKey{pod: s.Pod, role: s.Role, authMount: s.AuthMount, audience: s.Audience, vault: s.Vault}
		if _, ok := c.lru.Peek(k); ok {
			continue
		}
		c.lru.Add(k, cachedToken{token: s.Token, refreshAt: s.RefreshAt, expires: s.Expires, used: s.Used})
		n++
	}
	a.metrics.TokenCacheSize.Set(float64(c.lru.Len()))
	return n
}

// Changes counts the tokens cached and dropped, for the state writer.
func (a *Authenticator) Changes() uint64 { return a.cache.changes.Load() }
