package vault

import (
	"context"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/semaphore"

	"github.com/vault-csi-provider/vault-csi-provider/internal/keyed"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// Option configures Clients.
type Option func(*shared)

// WithMaxInFlight caps the Vault calls all clients have under way at once,
// so a node restart with hundreds of pods does not flatten Vault. Waiters
// are served first come, first served; 0 means no cap.
func WithMaxInFlight(n int) Option {
	return func(s *shared) {
		if n > 0 {
			s.slots = semaphore.NewWeighted(int64(n))
			s.idleConns = n
		}
	}
}

// WithMaxInFlightPerTenant caps the Vault calls one tenant (see
// WithTenant) has under way at once, so that one namespace's hung Vault
// cannot take every node-wide slot: a tenant waits for one of its own slots
// before it joins the node-wide queue. 0 means no per-tenant cap.
func WithMaxInFlightPerTenant(n int) Option {
	return func(s *shared) {
		if n > 0 {
			s.tenants = keyed.New(int64(n))
		}
	}
}

type tenantKey struct{}

// WithTenant returns ctx carrying the tenant (the pod's namespace) whose
// share of the Vault request slots every call made with it counts against.
// A context value rather than a parameter, because the calls reach this
// package through layers (auth's login, lease renewal) that have no business
// with slot accounting; it is set once per mount. Calls without a tenant
// (revocations, the offline check) count against the node-wide cap only.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

func tenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// WithMetrics records every Vault call in m.
func WithMetrics(m *metrics.Metrics) Option {
	return func(s *shared) { s.metrics = m }
}

// shared is the state every client of one Clients uses: the node-wide cap
// and the metrics.
type shared struct {
	slots   *semaphore.Weighted // nil: no cap
	metrics *metrics.Metrics
	// tenants are each tenant's share of slots; nil: no share.
	tenants *keyed.Semaphores
	// idleConns is the idle connections each client keeps to its Vault:
	// as many as may be in flight under the cap.
	idleConns int
	// files says which TLS files a Config may name; nil: any.
	files *filePolicy
	// budgets are the retry budgets by Vault host and port, shared by
	// every client that lists an address of it, however written, and each
	// namespace's share of them; bounded, as classes name addresses.
	budgets *lru.Cache[budgetKey, *budget]
	// budgetsMu makes a missing budget's creation atomic, so that two
	// calls cannot each start their own.
	budgetsMu sync.Mutex
}

// budgetKey names a host and port's budget (no tenant) or a tenant's share.
type budgetKey struct{ host, tenant string }

// maxBudgets bounds the budgets remembered; a forgotten one starts full
// again.
const maxBudgets = 4096

// budget returns the retry budget of host (see hostPort), or tenant's
// share of it. Every call looks one up, so a hit takes only the cache's own
// lock.
func (s *shared) budget(host, tenant string) *budget {
	k := budgetKey{host, tenant}
	if b, ok := s.budgets.Get(k); ok {
		return b
	}
	s.budgetsMu.Lock()
	defer s.budgetsMu.Unlock()
	if b, ok := s.budgets.Get(k); ok {
		return b
	}
	b := &budget{}
	s.budgets.Add(k, b)
	return b
}

// defaultIdleConns applies without a cap on in-flight calls.
const defaultIdleConns = 64

func newShared(opts []Option) *shared {
	budgets, err := lru.New[budgetKey, *budget](maxBudgets)
	if err != nil {
		panic(err) // only for a size below 1
	}
	s := &shared{idleConns: defaultIdleConns, budgets: budgets}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = metrics.NewUnregistered()
	}
	return s
}

// begin waits for a slot and starts the bookkeeping of one call; the
// returned function ends it with the call's HTTP status (0 if none).
func (s *shared) begin(ctx context.Context, kind callKind, op string) (func(status int), error) {
	releaseTenant, err := s.acquireTenant(ctx, op)
	if err != nil {
		return nil, err
	}
	if s.slots != nil {
		if err := s.slots.Acquire(ctx, 1); err != nil {
			releaseTenant()
			return nil, newError(ErrUnavailable, err, op, "gave up waiting for a free Vault request slot: "+err.Error())
		}
	}
	m := s.metrics
	m.VaultRequestsInFlight.Inc()
	start := time.Now()
	return func(status int) {
		m.VaultRequestsInFlight.Dec()
		if s.slots != nil {
			s.slots.Release(1)
		}
		releaseTenant()
		label := "error"
		if status > 0 {
			label = fmt.Sprint(status)
		}
		m.VaultRequests.WithLabelValues(kind.String(), label).Inc()
		m.VaultRequestDuration.WithLabelValues(kind.String()).Observe(time.Since(start).Seconds())
	}, nil
}

// acquireTenant waits for one of ctx's tenant's slots; the returned
// function gives it back.
func (s *shared) acquireTenant(ctx context.Context, op string) (func(), error) {
	tenant := tenantOf(ctx)
	if s.tenants == nil || tenant == "" {
		return func() {}, nil
	}
	release, err := s.tenants.Acquire(ctx, tenant)
	if err != nil {
		return nil, newError(ErrUnavailable, err, op, fmt.Sprintf(
			"gave up waiting for one of namespace %q's %d Vault request slots (-max-vault-requests-per-namespace): %v", tenant, s.tenants.Slots(), err))
	}
	return release, nil
}

// String is the operation label of a call.
func (k callKind) String() string {
	switch k {
	case callLogin:
		return "login"
	case callRenew:
		return "renew"
	case callRevoke:
		return "revoke"
	default:
		return "read"
	}
}

// statusOf is the HTTP status of a finished call, 0 when none arrived.
func statusOf(resp *api.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}
