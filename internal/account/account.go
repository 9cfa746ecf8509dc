// Package account charges what one mount makes and does to one account.
//
// A SecretProviderClass is written by another team, and its features
// (aliases, templates, selections, whole secrets as files) multiply one
// another. So no feature has a limit of its own that keeps the node safe:
// every byte a mount makes or keeps, and every unit of work it does, is
// charged to the mount's one Account before it is spent, and the Account
// fails once either cap is reached. The node's Pool admits accounts so that
// the bytes of all accounts in flight stay within one node-wide cap.
//
// An Account is passed down with the mount's work: explicitly where memory
// is made (parsing, rendering, templates, selections), and in the context
// for the Vault calls, which reach the vault package through layers that
// have no business with it. A nil *Account charges nothing: it stands for
// work no class controls (revocations, the provider's own calls).
package account

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrExhausted is a charge past an account's cap, or past the room the node
// has for it; test with errors.Is.
var ErrExhausted = errors.New("mount budget exhausted")

// Flags that raise the caps, for messages that tell the operator what to
// change.
const (
	FlagMountMemory = "-max-mount-memory"
	FlagMountWork   = "-max-mount-work"
	FlagNodeMemory  = "-max-memory"
)

// Limits are the caps of one account. Bytes count memory as it is held
// (decoded values, not the bodies they came from); Work counts about one
// unit per byte scanned, parsed or built and a few per value visited.
type Limits struct {
	Bytes int64
	Work  int64
}

// DefaultLimits: real mounts hold kilobytes and do microseconds of work;
// these leave room for several secrets of a few MiB each, rendered through
// templates and selections, and keep a mount's CPU under about a second.
func DefaultLimits() Limits {
	return Limits{Bytes: 16 << 20, Work: 64 << 20}
}

// Error is a charge refused. It never holds a value from the class or a
// secret: only what was being made and the numbers.
type Error struct {
	// What was being made or done, e.g. "decoding the response of GET secret/db".
	What string
	// Unit is "bytes" or "units of work".
	Unit string
	// Limit and Flag are the cap that refused it and the setting that raises it.
	Limit int64
	Flag  string
	// Node is set when the node had no room, rather than the mount's own cap.
	Node bool
}

func (e *Error) Error() string {
	if e.Node {
		return fmt.Sprintf("%s: the node's provider holds its %d bytes for mounts in flight (%s) and has no room for this one now; the driver retries",
			e.What, e.Limit, e.Flag)
	}
	return fmt.Sprintf("%s: the mount would exceed its %d %s (%s)", e.What, e.Limit, e.Unit, e.Flag)
}

func (e *Error) Unwrap() error { return ErrExhausted }

// Account is one mount's budget; safe for concurrent use (a mount reads
// several secrets at once).
type Account struct {
	lim   Limits
	ctx   context.Context
	bytes atomic.Int64
	work  atomic.Int64
	// grant is what the account holds of its pool; bytes beyond it are
	// taken from the pool before they are charged.
	grant      atomic.Int64
	mu         sync.Mutex // serialises growing and closing
	pool       *Pool
	tenant     *tenantShare
	tenantName string
	closed     bool
}

// New returns an account with limits that no pool admits: for the offline
// check and tests. ctx is checked by Work, so that an evaluation stops when
// the mount's deadline passes even if its work is within the cap.
func New(ctx context.Context, lim Limits) *Account {
	return &Account{lim: lim.orDefault(), ctx: ctx}
}

func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.Bytes <= 0 {
		l.Bytes = d.Bytes
	}
	if l.Work <= 0 {
		l.Work = d.Work
	}
	return l
}

// Limits returns the account's caps.
func (a *Account) Limits() Limits {
	if a == nil {
		return Limits{}
	}
	return a.lim
}

// Charge counts n bytes that are about to be made or kept; what names them
// in the error. It fails, charging nothing, past the account's cap or when
// the node has no room for the account to grow.
func (a *Account) Charge(n int, what string) error {
	if a == nil || n <= 0 {
		return nil
	}
	used := a.bytes.Add(int64(n))
	if used > a.lim.Bytes || used < 0 {
		a.bytes.Add(-int64(n))
		return &Error{What: what, Unit: "bytes", Limit: a.lim.Bytes, Flag: FlagMountMemory}
	}
	if a.pool != nil && used > a.grant.Load() {
		if err := a.grow(used, what); err != nil {
			a.bytes.Add(-int64(n))
			return err
		}
	}
	return nil
}

// Release gives back n bytes of a charge that proved larger than what was
// made (a function's result charged at its arguments' size before it ran).
// The node's room stays with the account until it closes.
func (a *Account) Release(n int) {
	if a != nil && n > 0 {
		a.bytes.Add(-int64(n))
	}
}

// Work counts n units of work about to be done, and fails once the
// account's work is spent or its context is done.
func (a *Account) Work(n int, what string) error {
	if a == nil {
		return nil
	}
	if n > 0 {
		if used := a.work.Add(int64(n)); used > a.lim.Work || used < 0 {
			a.work.Store(a.lim.Work + 1) // stays spent
			return &Error{What: what, Unit: "units of work", Limit: a.lim.Work, Flag: FlagMountWork}
		}
	}
	if a.ctx != nil {
		select {
		case <-a.ctx.Done():
			return fmt.Errorf("%s: %w", what, a.ctx.Err())
		default:
		}
	}
	return nil
}

// Used reports the bytes and work charged so far.
func (a *Account) Used() (bytes, work int64) {
	if a == nil {
		return 0, 0
	}
	return a.bytes.Load(), a.work.Load()
}

type key struct{}

// With returns ctx carrying a, for the calls that reach Vault.
func With(ctx context.Context, a *Account) context.Context {
	return context.WithValue(ctx, key{}, a)
}

// From returns the account ctx carries, or nil.
func From(ctx context.Context) *Account {
	a, _ := ctx.Value(key{}).(*Account)
	return a
}
