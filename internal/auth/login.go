package auth

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Loginer is the Vault side of a login; *vault.Client implements it.
type Loginer interface {
	Config() vault.Config
	Login(ctx context.Context, mount, role, jwt string) (vault.Login, error)
}

// LoginRequest is everything a login depends on. Every field except
// DriverTokens is part of the cache key, so a token is never shared across
// pods, roles, auth mounts or Vault servers.
type LoginRequest struct {
	Pod       Pod
	Role      string
	AuthMount string
	Audience  string
	// DriverTokens is the raw csi.storage.k8s.io/serviceAccount.tokens
	// attribute; it is parsed only when a login is actually needed.
	DriverTokens string
}

// Token is a Vault token handed to one mount.
type Token struct {
	Value string
	// Cached reports that the token came from the cache rather than from a
	// login made for this request, so a 403 may mean it was revoked.
	Cached bool
}

// String keeps the token value out of logs and error messages.
func (t Token) String() string { return fmt.Sprintf("vault token (cached=%t)", t.Cached) }

// Authenticator exchanges a pod's service-account token for a Vault token
// and caches the result per identity. It is safe for concurrent use.
type Authenticator struct {
	cache     *tokenCache
	requester *TokenRequester
	group     singleflight.Group
	now       func() time.Time
}

// NewAuthenticator returns an Authenticator caching up to cacheSize tokens
// (0 disables the cache). requester is used when the driver passed no token
// for the audience.
func NewAuthenticator(cacheSize int, requester *TokenRequester) (*Authenticator, error) {
	c, err := newTokenCache(cacheSize)
	if err != nil {
		return nil, err
	}
	return &Authenticator{cache: c, requester: requester, now: time.Now}, nil
}

// Token returns a Vault token for req: a cached one that is not near its
// expiry, or a fresh login. Concurrent requests for the same identity share
// one login.
func (a *Authenticator) Token(ctx context.Context, c Loginer, req LoginRequest) (Token, error) {
	key := newCacheKey(c.Config(), req)
	if tok, ok := a.cache.get(key, a.now()); ok {
		return Token{Value: tok, Cached: true}, nil
	}
	v, err, _ := a.group.Do(key.String(), func() (any, error) {
		if tok, ok := a.cache.get(key, a.now()); ok {
			return tok, nil
		}
		return a.login(ctx, c, key, req)
	})
	if err != nil {
		return Token{}, err
	}
	return Token{Value: v.(string)}, nil
}

// Invalidate drops the cached token for req if it is still token, so a
// token another request has just refreshed is kept.
func (a *Authenticator) Invalidate(c Loginer, req LoginRequest, token string) {
	a.cache.remove(newCacheKey(c.Config(), req), token)
}

func (a *Authenticator) login(ctx context.Context, c Loginer, key cacheKey, req LoginRequest) (string, error) {
	jwt, err := a.serviceAccountToken(ctx, req)
	if err != nil {
		return "", err
	}
	issued := a.now()
	l, err := c.Login(ctx, req.AuthMount, req.Role, jwt)
	if err != nil {
		return "", fmt.Errorf("login to Vault as role %q at auth/%s for %s/%s: %w",
			req.Role, req.AuthMount, req.Pod.Namespace, req.Pod.ServiceAccount, err)
	}
	if l.Token == "" {
		return "", fmt.Errorf("login to Vault as role %q at auth/%s: %w: no client token", req.Role, req.AuthMount, vault.ErrBadResponse)
	}
	a.cache.add(key, l.Token, refreshAt(issued, l.TTL))
	return l.Token, nil
}

// serviceAccountToken prefers the token the driver obtained for the
// audience (no Kubernetes call) and falls back to the TokenRequest API.
func (a *Authenticator) serviceAccountToken(ctx context.Context, req LoginRequest) (string, error) {
	tokens, err := ParseDriverTokens(req.DriverTokens)
	if err != nil {
		return "", err
	}
	if t, ok := tokens[req.Audience]; ok && t.Token != "" && (t.Expiry.IsZero() || t.Expiry.After(a.now())) {
		return t.Token, nil
	}
	if a.requester == nil {
		return "", fmt.Errorf("no service-account token for audience %q from the driver: %w", req.Audience, ErrNoKubernetes)
	}
	t, err := a.requester.Request(ctx, req.Pod, req.Audience)
	if err != nil {
		return "", err
	}
	return t.Token, nil
}

// refreshAt is when a token issued at issued with the given TTL stops being
// handed out: after two thirds of its TTL, so a mount never starts with a
// token about to expire. A zero TTL means the token does not expire.
func refreshAt(issued time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return issued.Add(ttl * 2 / 3)
}
