package auth

import (
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// cacheKey is the identity a Vault token was issued for.
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

// String is the singleflight key; NUL cannot appear in any field we accept.
func (k cacheKey) String() string {
	return strings.Join([]string{
		k.pod.Namespace, k.pod.Name, k.pod.UID, k.pod.ServiceAccount,
		k.role, k.authMount, k.audience,
		k.vault.Address, k.vault.Namespace, k.vault.CACert, k.vault.CADirectory,
		k.vault.TLSServerName, k.vault.ClientCert, k.vault.ClientKey, boolString(k.vault.SkipVerify),
	}, "\x00")
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

type cachedToken struct {
	token     string
	refreshAt time.Time // zero: never
}

// tokenCache is a bounded LRU of Vault tokens; size 0 disables caching.
type tokenCache struct {
	mu  sync.Mutex // makes remove's compare-and-delete atomic
	lru *lru.Cache[cacheKey, cachedToken]
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

func (c *tokenCache) get(k cacheKey, now time.Time) (string, bool) {
	if c.lru == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Get(k)
	if !ok {
		return "", false
	}
	if !t.refreshAt.IsZero() && !now.Before(t.refreshAt) {
		c.lru.Remove(k)
		return "", false
	}
	return t.token, true
}

func (c *tokenCache) add(k cacheKey, token string, refreshAt time.Time) {
	if c.lru == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(k, cachedToken{token: token, refreshAt: refreshAt})
}

func (c *tokenCache) remove(k cacheKey, token string) {
	if c.lru == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.lru.Peek(k); ok && t.token == token {
		c.lru.Remove(k)
	}
}

// Len is the number of cached tokens.
func (c *tokenCache) Len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}
