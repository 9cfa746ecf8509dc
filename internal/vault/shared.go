package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/semaphore"

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

// WithMetrics records every Vault call in m.
func WithMetrics(m *metrics.Metrics) Option {
	return func(s *shared) { s.metrics = m }
}

// shared is the state every client of one Clients uses: the node-wide cap
// and the metrics.
type shared struct {
	slots   *semaphore.Weighted // nil: no cap
	metrics *metrics.Metrics
	// idleConns is the idle connections each client keeps to its Vault:
	// as many as may be in flight under the cap.
	idleConns int
	// files says which TLS files a Config may name; nil: any.
	files *filePolicy
}

// defaultIdleConns applies without a cap on in-flight calls.
const defaultIdleConns = 64

func newShared(opts []Option) *shared {
	s := &shared{idleConns: defaultIdleConns}
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
	if s.slots != nil {
		if err := s.slots.Acquire(ctx, 1); err != nil {
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
		label := "error"
		if status > 0 {
			label = fmt.Sprint(status)
		}
		m.VaultRequests.WithLabelValues(kind.String(), label).Inc()
		m.VaultRequestDuration.WithLabelValues(kind.String()).Observe(time.Since(start).Seconds())
	}, nil
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
