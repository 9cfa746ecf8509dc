// Package coalesce shares one call among concurrent callers with the same
// key, like singleflight, but each caller keeps its own deadline: the call
// runs on a context that ends only when every caller waiting for it has
// gone, so one caller giving up never fails the others.
package coalesce

import (
	"context"
	"sync"
)

// Group coalesces calls by a comparable key (a struct, never a joined
// string, so distinct requests cannot share a key). The zero value is ready
// to use.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int // callers still waiting; guarded by Group.mu
	cancel  context.CancelFunc
}

// Do returns the result of fn for key, starting fn unless a call for key
// is under way. fn runs on its own goroutine with a context that keeps
// ctx's values, is not cancelled by ctx, and is cancelled once no caller
// waits for it any more. Do returns ctx.Err() when ctx ends first. The
// shared result must be treated as read-only.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	if err := ctx.Err(); err != nil {
		var zero V
		return zero, err
	}
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[K]*call[V])
	}
	c, ok := g.calls[key]
	if !ok {
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[V]{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = c
		go g.run(callCtx, key, c, fn)
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.leave(key, c)
		var zero V
		return zero, ctx.Err()
	}
}

func (g *Group[K, V]) run(ctx context.Context, key K, c *call[V], fn func(context.Context) (V, error)) {
	defer c.cancel()
	c.val, c.err = fn(ctx)
	g.mu.Lock()
	g.forget(key, c)
	g.mu.Unlock()
	close(c.done)
}

// leave drops one waiter; the last one cancels the call, and a new caller
// then starts a fresh call rather than joining one that is being cancelled.
func (g *Group[K, V]) leave(key K, c *call[V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.waiters--
	if c.waiters == 0 {
		c.cancel()
		g.forget(key, c)
	}
}

func (g *Group[K, V]) forget(key K, c *call[V]) {
	if g.calls[key] == c {
		delete(g.calls, key)
	}
}
