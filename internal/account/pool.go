package account

import (
	"context"
	"fmt"
	"sync"
)

// PoolLimits size a node's Pool.
type PoolLimits struct {
	// Bytes bounds the bytes all open accounts hold together.
	Bytes int64
	// Share bounds what the accounts of one tenant (a namespace) hold
	// together, so one namespace's mounts cannot take the whole node. Zero:
	// a quarter of Bytes, and never less than Account.
	Share int64
	// Account is the cap of one account: a tenant may always hold one
	// account at its cap, or its mounts could never be served whole.
	Account int64
	// Base is what an account is given when it opens: a mount that stays
	// within it never meets a full node past admission.
	Base int64
}

// DefaultPoolLimits fit the DaemonSet's 256 MiB memory limit beside the
// provider's caches (see docs/security.md).
func DefaultPoolLimits() PoolLimits {
	return PoolLimits{Bytes: 64 << 20, Share: 16 << 20, Base: 1 << 20}
}

// Pool admits accounts within the node's bytes. Opening an account waits for
// its Base; an account that grows past what it holds takes more at once, or
// fails if the node or its tenant has none to give: waiting there could leave
// every mount in flight waiting for another.
type Pool struct {
	lim     PoolLimits
	mu      sync.Mutex
	used    int64
	tenants map[string]*tenantShare
	waiters []*waiter
}

// tenantShare is one tenant's part of the pool; it lives while an account
// of the tenant is open or waiting.
type tenantShare struct {
	used  int64
	users int
}

type waiter struct {
	tenant  string
	n       int64
	ready   chan struct{}
	granted bool
}

// NewPool returns a pool; zero fields take their defaults, and a share or
// base over the pool's bytes is lowered to them.
func NewPool(lim PoolLimits) *Pool {
	d := DefaultPoolLimits()
	if lim.Bytes <= 0 {
		lim.Bytes = d.Bytes
	}
	if lim.Share <= 0 {
		lim.Share = max(lim.Bytes/4, lim.Account)
	}
	if lim.Base <= 0 {
		lim.Base = d.Base
	}
	lim.Share = min(lim.Share, lim.Bytes)
	lim.Base = min(lim.Base, lim.Share)
	return &Pool{lim: lim, tenants: map[string]*tenantShare{}}
}

// Limits returns the pool's sizes after defaults.
func (p *Pool) Limits() PoolLimits { return p.lim }

// Open waits, within ctx, until tenant's share and the node both have room
// for the Base of a new account, then returns it. Tenants wait in their
// own line: one whose share is full does not hold up the others. The
// caller must Close the account.
func (p *Pool) Open(ctx context.Context, tenant string, lim Limits) (*Account, error) {
	lim = lim.orDefault()
	base := min(p.lim.Base, lim.Bytes)
	a := &Account{lim: lim, ctx: ctx, pool: p, tenantName: tenant}
	a.grant.Store(base)
	p.mu.Lock()
	t := p.share(tenant)
	a.tenant = t
	if !p.nodeQueued() && p.fits(t, base) {
		p.take(t, base)
		p.mu.Unlock()
		return a, nil
	}
	w := &waiter{tenant: tenant, n: base, ready: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return a, nil
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		if w.granted {
			p.give(t, base)
		} else {
			p.waiters = removeWaiter(p.waiters, w)
		}
		p.leave(tenant, t)
		p.admit()
		return nil, fmt.Errorf("waiting for room in the node's %d bytes for mounts (%s): %w", p.lim.Bytes, FlagNodeMemory, ctx.Err())
	}
}

// Close gives back what the account holds. Charging it afterwards fails.
func (a *Account) Close() {
	if a == nil || a.pool == nil {
		return
	}
	p := a.pool
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.closed = true
	p.mu.Lock()
	defer p.mu.Unlock()
	p.give(a.tenant, a.grant.Load())
	p.leave(a.tenantName, a.tenant)
	p.admit()
}

// grow takes from the pool what the account needs to hold used bytes.
func (a *Account) grow(used int64, what string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		// A read shared with other mounts goes on after the mount that
		// started it is done: its cap still holds.
		return nil
	}
	grant := a.grant.Load()
	if used <= grant {
		return nil
	}
	p := a.pool
	// A whole Base at a time, so that a mount growing by small charges
	// takes the pool's lock a few times, not at every charge.
	need := max(used-grant, min(p.lim.Base, a.lim.Bytes-grant))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fits(a.tenant, need) {
		if need = used - grant; !p.fits(a.tenant, need) {
			return &Error{What: what, Unit: "bytes", Limit: p.lim.Bytes, Flag: FlagNodeMemory, Node: true}
		}
	}
	p.take(a.tenant, need)
	a.grant.Store(grant + need)
	return nil
}

// Used reports the bytes the pool has given to open accounts.
func (p *Pool) Used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// The helpers below run with p.mu held.

func (p *Pool) share(tenant string) *tenantShare {
	t := p.tenants[tenant]
	if t == nil {
		t = &tenantShare{}
		p.tenants[tenant] = t
	}
	t.users++
	return t
}

func (p *Pool) leave(tenant string, t *tenantShare) {
	if t.users--; t.users == 0 {
		delete(p.tenants, tenant)
	}
}

// nodeQueued reports a waiter held back by the node's room rather than its
// tenant's share: newcomers line up behind it.
func (p *Pool) nodeQueued() bool {
	for _, w := range p.waiters {
		if p.tenants[w.tenant].used+w.n <= p.lim.Share {
			return true
		}
	}
	return false
}

func (p *Pool) fits(t *tenantShare, n int64) bool {
	return p.used+n <= p.lim.Bytes && t.used+n <= p.lim.Share
}

func (p *Pool) take(t *tenantShare, n int64) {
	p.used += n
	t.used += n
}

func (p *Pool) give(t *tenantShare, n int64) {
	p.used -= n
	t.used -= n
}

// admit grants waiting accounts in their order, skipping those whose
// tenant's share is full, and stops at the first that the node cannot fit.
func (p *Pool) admit() {
	kept := p.waiters[:0]
	full := false
	for _, w := range p.waiters {
		t := p.tenants[w.tenant]
		switch {
		case full || t.used+w.n > p.lim.Share:
			kept = append(kept, w)
		case p.used+w.n > p.lim.Bytes:
			full = true
			kept = append(kept, w)
		default:
			p.take(t, w.n)
			w.granted = true
			close(w.ready)
		}
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
}

func removeWaiter(ws []*waiter, w *waiter) []*waiter {
	for i, x := range ws {
		if x == w {
			return append(ws[:i], ws[i+1:]...)
		}
	}
	return ws
}
