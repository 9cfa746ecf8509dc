package mount

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// parsedCacheBytes bounds the memory of the parsed parameters kept, as
// spc measures it while parsing (Params.Bytes: bodies, keys, IDs, parsed
// templates and expressions), plus the entry. Real classes hold a few KiB
// each, so only classes near the limits make entries leave before
// parsedCacheSize does: without it, 1024 of them could hold gigabytes.
const parsedCacheBytes = 32 << 20

// parsedEntryBytes is an entry's own memory: its key, the list's links.
const parsedEntryBytes = 128

// parsedCache is an LRU of parsed parameters bounded both in entries and in
// estimated bytes. It is safe for concurrent use.
type parsedCache struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[attrsKey, parsedEntry]
	cost  int
	limit int
}

type parsedEntry struct {
	params *spc.Params
	cost   int
}

func newParsedCache(entries, bytes int) (*parsedCache, error) {
	c := &parsedCache{limit: bytes}
	lru, err := simplelru.NewLRU(entries, func(_ attrsKey, e parsedEntry) { c.cost -= e.cost })
	if err != nil {
		return nil, err
	}
	c.lru = lru
	return c, nil
}

// Add keeps p, evicting the least recently used entries while the total is
// over the limit. One entry over the whole limit is not kept.
func (c *parsedCache) Add(k attrsKey, p *spc.Params) {
	cost := p.Bytes + parsedEntryBytes
	if cost > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Replacing a value evicts nothing: take the old one's cost back here.
	if old, ok := c.lru.Peek(k); ok {
		c.cost -= old.cost
	}
	c.lru.Add(k, parsedEntry{params: p, cost: cost})
	c.cost += cost
	for c.cost > c.limit {
		c.lru.RemoveOldest()
	}
}

func (c *parsedCache) Get(k attrsKey) (*spc.Params, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	return e.params, ok
}

func (c *parsedCache) Peek(k attrsKey) (*spc.Params, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Peek(k)
	return e.params, ok
}

func (c *parsedCache) Remove(k attrsKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Remove(k)
}

func (c *parsedCache) Keys() []attrsKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Keys()
}

func (c *parsedCache) Values() []*spc.Params {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []*spc.Params
	for _, e := range c.lru.Values() {
		ps = append(ps, e.params)
	}
	return ps
}
