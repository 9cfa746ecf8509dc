// Package stale keeps the last good response to each request of each
// identity, so that a mount may be answered from it while every address of
// its Vault is down (the class's staleIfError, capped by the node's
// -max-stale-if-error). An identity is everything Vault decides on: the
// pod's namespace and service account, the role, auth mount and audience
// it logs in with, the Vault cluster and namespace, and the request. The
// pod itself is not part of it: a new pod of a known identity may be
// answered, as Vault would have answered it.
//
// What is kept is bounded in bytes for the node; past the bound the least
// recently used responses are dropped.
package stale

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
)

// DefaultMaxBytes bounds the responses kept for stale answers on the node.
const DefaultMaxBytes = 16 << 20

// Key is one identity's request: that of a kept lease without its pod,
// since a new pod of a known identity may be answered.
type Key = lease.Identity

// Response is a kept answer. Secret is nil for a request that was missing
// in Vault (read only by optional objects): its objects are left out again.
type Response struct {
	Secret *api.Secret
	// Obtained is when Vault answered.
	Obtained time.Time
	// Ends is when the answer stops being valid whatever the window: the
	// end of its lease (capped by its token's) or of its certificate; zero
	// for a static secret.
	Ends time.Time
	// Pod is the UID of the pod whose token read a leased answer: its
	// lease dies with that token when the pod is deleted.
	Pod string
}

// usable reports whether r may still be served at now within window.
func (r Response) usable(now time.Time, window time.Duration) bool {
	if now.Sub(r.Obtained) >= window {
		return false
	}
	return r.Ends.IsZero() || now.Before(r.Ends)
}

type entry struct {
	key  Key
	resp Response
	used time.Time
	size int
	el   *list.Element
}

// Cache is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	entries map[Key]*entry
	lru     list.List // most recently used first
	bytes   int
	max     int
	now     func() time.Time
	changes atomic.Uint64
}

// New returns a cache of at most maxBytes (0: DefaultMaxBytes).
func New(maxBytes int) *Cache {
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{entries: map[Key]*entry{}, max: maxBytes, now: time.Now}
}

// Size is the memory a response for k takes in the cache, what a mount
// charges to its account before it keeps one.
func Size(k Key, s *api.Secret) int {
	n := int(unsafe.Sizeof(entry{})) + 3*int(unsafe.Sizeof(list.Element{})) + 3*int(unsafe.Sizeof(k))
	for _, v := range k.Strings() {
		n += len(v)
	}
	return n + lease.SecretBytes(s)
}

// Put keeps r, of size bytes (Size), for k in place of what was kept. A
// leased response whose lease is the one already kept keeps the earlier
// end: a reused lease comes back with the duration it was first granted.
func (c *Cache) Put(k Key, r Response, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		if r.Secret != nil && old.resp.Secret != nil && r.Secret.LeaseID != "" && r.Secret.LeaseID == old.resp.Secret.LeaseID &&
			!old.resp.Ends.IsZero() && (r.Ends.IsZero() || old.resp.Ends.Before(r.Ends)) {
			r.Ends = old.resp.Ends
		}
		if old.resp.Secret == r.Secret {
			// The same answer (a reused lease) found good again.
			old.resp.Obtained, old.resp.Ends, old.used = r.Obtained, r.Ends, c.now()
			c.lru.MoveToFront(old.el)
			c.changes.Add(1)
			return
		}
		c.removeLocked(old)
	}
	c.changes.Add(1)
	if size > c.max {
		return
	}
	for c.bytes+size > c.max {
		c.removeLocked(c.lru.Back().Value.(*entry))
	}
	e := &entry{key: k, resp: r, used: c.now(), size: size}
	e.el = c.lru.PushFront(e)
	c.entries[k] = e
	c.bytes += size
}

// Get returns k's response if it is younger than window and still valid.
func (c *Cache) Get(k Key, window time.Duration) (Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return Response{}, false
	}
	now := c.now()
	if !e.resp.Ends.IsZero() && !now.Before(e.resp.Ends) {
		c.removeLocked(e)
		c.changes.Add(1)
		return Response{}, false
	}
	if !e.resp.usable(now, window) {
		return Response{}, false
	}
	e.used = now
	c.lru.MoveToFront(e.el)
	return e.resp, true
}

// ForgetPod drops the leased responses the pod's tokens read: their leases
// end with those tokens, which are revoked when the pod is gone.
func (c *Cache) ForgetPod(uid string) {
	if uid == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.resp.Pod == uid {
			c.removeLocked(e)
			c.changes.Add(1)
		}
	}
}

// Bytes is the memory kept.
func (c *Cache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Len is the number of responses kept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Changes counts the changes to what is kept, for the state writer.
func (c *Cache) Changes() uint64 { return c.changes.Load() }

func (c *Cache) removeLocked(e *entry) {
	delete(c.entries, e.key)
	c.lru.Remove(e.el)
	c.bytes -= e.size
}

// Saved is a kept response as the state file holds it.
type Saved struct {
	Key      Key
	Response Response
	Used     time.Time
}

// Save lists what is kept, the most recently used first.
func (c *Cache) Save() []Saved {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Saved, 0, len(c.entries))
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		out = append(out, Saved{Key: e.key, Response: e.resp, Used: e.used})
	}
	return out
}

// Restore keeps what a state file held, the most recently used first,
// leaving out what has ended by now; it returns how many it kept.
func (c *Cache) Restore(saved []Saved) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	n := 0
	// Oldest first, so the most recently used end up at the front.
	for i := len(saved) - 1; i >= 0; i-- {
		s := saved[i]
		if _, ok := c.entries[s.Key]; ok || (!s.Response.Ends.IsZero() && !now.Before(s.Response.Ends)) {
			continue
		}
		size := Size(s.Key, s.Response.Secret)
		if size > c.max {
			continue
		}
		for c.bytes+size > c.max {
			c.removeLocked(c.lru.Back().Value.(*entry))
		}
		e := &entry{key: s.Key, resp: s.Response, used: s.Used, size: size}
		e.el = c.lru.PushFront(e)
		c.entries[s.Key] = e
		c.bytes += size
		n++
	}
	return n
}
