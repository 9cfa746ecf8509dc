package auth

import (
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// cacheKey is the identity a Vault token was issued for; a comparable
// struct, never a joined string, so that no two identities share a key.
type cacheKey struct {
	pod       Pod
	role      string
	authMount string
	audience  string
	vault     vault.Config
}

func newCacheKey(cfg vault.Config, req LoginRequest) cacheKey {
	return cacheKey{pod: req.Pod, role: req.Role, authMount: req.AuthMount, audience: req.Audience, vault: cfg}
}

type cachedToken struct {
	token     string
	refreshAt time.Time // zero: never
	expires   time.Time // zero: never
	used      time.Time // the last mount it served, for the state file
}

// tokenCache is a bounded LRU of Vault tokens; size 0 disables caching.
type tokenCache struct {
	mu  sync.Mutex // makes remove's compare-and-delete atomic
	lru *lru.Cache[cacheKey, cachedToken]
	// changes counts tokens added and removed, for the state writer.
	changes atomic.Uint64
}

func newTokenCache(size int) (*tokenCache, error) {
	if size <= 0 {
		return &tokenCache{}, nil
	}
	c, err := lru.New[cacheKey, cachedToken](size)
	if err != nil {
		return nil, err
	}
	return &tokenCache{lru: c}, nil
}

func (c *tokenCache) get(k cacheKey, now time.Time) (cachedToken, bool) {
	if c.lru == nil {
		return cachedToken{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Get(k)
	if !ok {
		return cachedToken{}, false
	}
	if !t.refreshAt.IsZero() && !now.Before(t.refreshAt) {
		c.lru.Remove(k)
		c.changes.Add(1)
		return cachedToken{}, false
	}
	t.used = now
	c.lru.Add(k, t)
	return t, true
}

func (c *tokenCache) add(k cacheKey, t cachedToken) {
	if c.lru == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(k, t)
	c.changes.Add(1)
}

// removePod drops every token issued for the pod and returns them with the
// Vault configuration they belong to.
func (c *tokenCache) removePod(uid string) []Issued {
	if c.lru == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Issued
	for _, k := range c.lru.Keys() {
		if k.pod.UID != uid {
			continue
		}
		if t, ok := c.lru.Peek(k); ok {
			out = append(out, Issued{Vault: k.vault, Token: t.token})
		}
		c.lru.Remove(k)
		c.changes.Add(1)
	}
	return out
}

// podUIDs lists the pods with a cached token.
func (c *tokenCache) podUIDs() []string {
	if c.lru == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, k := range c.lru.Keys() {
		if !seen[k.pod.UID] {
			seen[k.pod.UID] = true
			out = append(out, k.pod.UID)
		}
	}
	return out
}

func (c *tokenCache) remove(k cacheKey, token string) {
	if c.lru == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.lru.Peek(k); ok && t.token == token {
		c.lru.Remove(k)
		c.changes.Add(1)
	}
}

// Len is the number of cached tokens.
func (c *tokenCache) Len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}
