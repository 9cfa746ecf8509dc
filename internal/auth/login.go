package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/coalesce"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
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
	// Expires is when Vault revokes the token and every lease it created;
	// zero if it does not expire.
	Expires time.Time
}

// Issued is a token issued for a pod, with the Vault it is valid for.
type Issued struct {
	Vault vault.Config
	Token string
}

// String keeps the token value out of logs and error messages.
func (t Token) String() string { return fmt.Sprintf("vault token (cached=%t)", t.Cached) }

// Authenticator exchanges a pod's service-account token for a Vault token
// and caches the result per identity. It is safe for concurrent use.
type Authenticator struct {
	cache     *tokenCache
	requester *TokenRequester
	logins    coalesce.Group[cacheKey, cachedToken]
	now       func() time.Time
	metrics   *metrics.Metrics
}

// NewAuthenticator returns an Authenticator caching up to cacheSize tokens
// (0 disables the cache). requester is used when the driver passed no token
// for the audience; nil uses only the driver's tokens. m may be nil.
func NewAuthenticator(cacheSize int, requester *TokenRequester, m *metrics.Metrics) (*Authenticator, error) {
	c, err := newTokenCache(cacheSize)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = metrics.NewUnregistered()
	}
	return &Authenticator{cache: c, requester: requester, now: time.Now, metrics: m}, nil
}

// Token returns a Vault token for req: a cached one that is not near its
// expiry, or a fresh login. Concurrent requests for the same identity share
// one login.
func (a *Authenticator) Token(ctx context.Context, c Loginer, req LoginRequest) (Token, error) {
	key := newCacheKey(c.Config(), req)
	if t, ok := a.cache.get(key, a.now()); ok {
		a.metrics.TokenCacheHits.Inc()
		return Token{Value: t.token, Cached: true, Expires: t.expires}, nil
	}
	a.metrics.TokenCacheMisses.Inc()
	// Each caller waits within its own deadline; the login goes on while
	// any of them still waits.
	t, err := a.logins.Do(ctx, key, func(ctx context.Context) (cachedToken, error) {
		if t, ok := a.cache.get(key, a.now()); ok {
			return t, nil
		}
		return a.login(ctx, c, key, req)
	})
	if ctxErr := ctx.Err(); ctxErr != nil && err == ctxErr {
		return Token{}, fmt.Errorf("login to Vault as role %q at auth/%s for %s/%s: %w: gave up: %w",
			req.Role, req.AuthMount, req.Pod.Namespace, req.Pod.ServiceAccount, vault.ErrUnavailable, ctxErr)
	}
	if err != nil {
		return Token{}, err
	}
	return Token{Value: t.token, Expires: t.expires}, nil
}

// WithToken runs use with a token for req. A 403 on a cached token means it
// was revoked or its policies changed since it was issued: it is dropped,
// and use runs once more with a fresh login, but never loops. use must be
// safe to run twice.
func (a *Authenticator) WithToken(ctx context.Context, c Loginer, req LoginRequest, use func(Token) error) error {
	tok, err := a.Token(ctx, c, req)
	if err != nil {
		return err
	}
	err = use(tok)
	if err == nil || !tok.Cached || !errors.Is(err, vault.ErrPermissionDenied) {
		return err
	}
	a.Invalidate(c, req, tok.Value)
	if tok, err = a.Token(ctx, c, req); err != nil {
		return err
	}
	return use(tok)
}

// ForgetPod drops the pod's tokens and returns them, so the caller can
// revoke them (and with them every lease they created).
func (a *Authenticator) ForgetPod(uid string) []Issued {
	out := a.cache.removePod(uid)
	a.metrics.TokenCacheSize.Set(float64(a.cache.Len()))
	return out
}

// PodUIDs lists the pods with a cached token.
func (a *Authenticator) PodUIDs() []string { return a.cache.podUIDs() }

// Invalidate drops the cached token for req if it is still token, so a
// token another request has just refreshed is kept.
func (a *Authenticator) Invalidate(c Loginer, req LoginRequest, token string) {
	a.cache.remove(newCacheKey(c.Config(), req), token)
}

func (a *Authenticator) login(ctx context.Context, c Loginer, key cacheKey, req LoginRequest) (cachedToken, error) {
	jwt, err := a.serviceAccountToken(ctx, req)
	if err != nil {
		return cachedToken{}, err
	}
	issued := a.now()
	l, err := c.Login(ctx, req.AuthMount, req.Role, jwt)
	if err == nil && l.Token == "" {
		err = fmt.Errorf("%w: no client token", vault.ErrBadResponse)
	}
	if err != nil {
		a.metrics.Logins.WithLabelValues("error").Inc()
		return cachedToken{}, fmt.Errorf("login to Vault as role %q at auth/%s for %s/%s: %w",
			req.Role, req.AuthMount, req.Pod.Namespace, req.Pod.ServiceAccount, err)
	}
	a.metrics.Logins.WithLabelValues("ok").Inc()
	t := cachedToken{token: l.Token, refreshAt: refreshAt(issued, l.TTL), used: issued}
	if l.TTL > 0 {
		t.expires = issued.Add(l.TTL)
	}
	a.cache.add(key, t)
	a.metrics.TokenCacheSize.Set(float64(a.cache.Len()))
	return t, nil
}

// ErrNoDriverToken means the driver passed no token for the audience and
// the provider may not request one itself.
var ErrNoDriverToken = errors.New("the driver passed no service-account token")

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
		return "", fmt.Errorf("%w for audience %q, and this provider does not use "+
			"the TokenRequest API (-driver-tokens-only): add the audience to the CSIDriver's spec.tokenRequests "+
			"(e.g. tokenRequests: [{audience: %s}]) so the driver hands the pod's token over", ErrNoDriverToken, req.Audience, req.Audience)
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
