package vault

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/coalesce"
)

// Clients is a process-wide, concurrency-safe, bounded cache of clients keyed
// by Config, so that TLS files are read and transports (with their idle
// connections) built once per Config, not once per mount.
type Clients struct {
	retry  RetryPolicy
	shared *shared
	cache  *lru.Cache[Config, *Client]
	// builds are the constructions under way, so each Config is built once.
	builds coalesce.Group[Config, *Client]
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
	return &Clients{retry: retry, shared: newShared(opts), cache: cache}, nil
}

// Get returns the client for cfg, building it on first use. Errors wrap
// ErrConfig and name the setting at fault; they are not cached, so a CA file
// that appears later is picked up by the next call. Get gives up when ctx
// ends, also while waiting for another caller's build of the same cfg.
func (c *Clients) Get(ctx context.Context, cfg Config) (*Client, error) {
	if client, ok := c.cache.Get(cfg); ok {
		return client, nil
	}
	client, err := c.builds.Do(ctx, cfg, func(ctx context.Context) (*Client, error) {
		if client, ok := c.cache.Get(cfg); ok {
			return client, nil
		}
		client, err := newClient(ctx, cfg, c.retry, c.shared)
		if err == nil {
			c.cache.Add(cfg, client)
		}
		return client, err
	})
	if gaveUp := waiterGaveUp(ctx, err, "building a client for "+cfg.Address); gaveUp != nil {
		return nil, gaveUp
	}
	return client, err
}

// Client reads from and logs in to one Vault server, or one cluster listed
// by several addresses: tokens belong to the cluster, so any address serves
// any call. It holds no token of
// its own: each call carries the caller's token, so one Client is safe for
// concurrent use by many mounts with different tokens.
type Client struct {
	cfg    Config
	nodes  []node // one per address, in the order given
	http   *http.Client
	retry  RetryPolicy
	shared *shared
	// preferred is the index in nodes of the address that last answered,
	// where the next call starts.
	preferred atomic.Int32
	// reads coalesces identical concurrent reads made with the same token.
	reads coalesce.Group[readKey, *api.Secret]
}

func newClient(ctx context.Context, cfg Config, retry RetryPolicy, s *shared) (*Client, error) {
	nodes, hc, err := newNodes(ctx, cfg, s)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, nodes: nodes, http: hc, retry: retry, shared: s}, nil
}

// Config returns the configuration the client was built from.
func (c *Client) Config() Config { return c.cfg }
