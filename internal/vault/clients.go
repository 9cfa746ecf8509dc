package vault

import (
	"fmt"
	"net/http"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
)

// Clients is a process-wide, concurrency-safe, bounded cache of clients keyed
// by Config, so that TLS files are read and transports (with their idle
// connections) built once per Config, not once per mount.
type Clients struct {
	retry  RetryPolicy
	shared *shared
	cache  *lru.Cache[Config, *Client]

	mu       sync.Mutex
	inflight map[Config]*build // builds in progress, so each Config is built once
}

// build is one client construction that concurrent Get calls wait on.
type build struct {
	done   chan struct{}
	client *Client
	err    error
}

// NewClients returns a cache holding at most size clients, each retrying
// according to retry.
func NewClients(size int, retry RetryPolicy, opts ...Option) (*Clients, error) {
	if size <= 0 {
		return nil, configError(nil, "client cache size %d must be positive", size)
	}
	if err := retry.validate(); err != nil {
		return nil, configError(err, "%v", err)
	}
	// An evicted client may still be serving a mount, so only its idle
	// connections are closed; the rest close when that mount is done.
	cache, err := lru.NewWithEvict(size, func(_ Config, c *Client) { c.http.CloseIdleConnections() })
	if err != nil {
		return nil, fmt.Errorf("vault: client cache: %w", err)
	}
	return &Clients{retry: retry, shared: newShared(opts), cache: cache, inflight: make(map[Config]*build)}, nil
}

// Get returns the client for cfg, building it on first use. Errors wrap
// ErrConfig and name the setting at fault; they are not cached, so a CA file
// that appears later is picked up by the next call.
func (c *Clients) Get(cfg Config) (*Client, error) {
	if client, ok := c.cache.Get(cfg); ok {
		return client, nil
	}
	c.mu.Lock()
	if client, ok := c.cache.Get(cfg); ok {
		c.mu.Unlock()
		return client, nil
	}
	if b, ok := c.inflight[cfg]; ok {
		c.mu.Unlock()
		<-b.done
		return b.client, b.err
	}
	b := &build{done: make(chan struct{})}
	c.inflight[cfg] = b
	c.mu.Unlock()

	// Build outside the lock: reading TLS files must not stall other Configs.
	b.client, b.err = newClient(cfg, c.retry, c.shared)

	c.mu.Lock()
	if b.err == nil {
		c.cache.Add(cfg, b.client)
	}
	delete(c.inflight, cfg)
	c.mu.Unlock()
	close(b.done)
	return b.client, b.err
}

// Client reads from and logs in to one Vault server. It holds no token of
// its own: each call carries the caller's token, so one Client is safe for
// concurrent use by many mounts with different tokens.
type Client struct {
	cfg    Config
	api    *api.Client
	http   *http.Client
	shared *shared
	// reads coalesces identical concurrent reads made with the same token.
	reads singleflight.Group
}

func newClient(cfg Config, retry RetryPolicy, s *shared) (*Client, error) {
	ac, hc, err := newAPIClient(cfg, retry, s.idleConns)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, api: ac, http: hc, shared: s}, nil
}

// Config returns the configuration the client was built from.
func (c *Client) Config() Config { return c.cfg }
