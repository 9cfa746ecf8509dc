package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
)

// fault is one outage the scenario caused, from its start until Vault
// served again (a new active node, or the tap reopened).
type fault struct {
	name     string
	from, to time.Time
}

// afterFault is the window after a fault whose request rate is reported.
const afterFault = 2 * time.Second

// scenario runs the faults in turn with steady stretches between them,
// while the pods mount. Through the front, the node refusing connections is
// a standby: the front, like a Service of the active node, has no other
// node to send to, so refusing the active one would be an outage of that
// setup whatever its clients do (docs/ha.md).
func (h *harness) scenario(ctx context.Context, front bool) ([]fault, error) {
	var faults []fault
	if err := sleep(ctx, 3*time.Second); err != nil {
		return nil, err
	}
	for _, step := range []struct {
		name  string
		cause func(ctx context.Context) (fault, error)
	}{
		{"kill the active node", h.killActive},
		{"seal the active node", h.sealActive},
		{"refuse connections", func(ctx context.Context) (fault, error) { return h.refuseBusiest(ctx, front) }},
	} {
		f, err := step.cause(ctx)
		if err != nil {
			return faults, fmt.Errorf("%s: %w\n%s", step.name, err, h.cluster.logTails())
		}
		faults = append(faults, f)
		fmt.Printf("   %s: %.1f s\n", f.name, f.to.Sub(f.from).Seconds())
		if err := sleep(ctx, afterFault); err != nil {
			return faults, err
		}
		if err := h.heal(ctx); err != nil {
			return faults, fmt.Errorf("after %s: %w\n%s", step.name, err, h.cluster.logTails())
		}
	}
	return faults, nil
}

// killActive sends SIGKILL to the active node and waits for another to
// become active.
func (h *harness) killActive(ctx context.Context) (fault, error) {
	return h.replaceActive(ctx, "SIGKILL", func(i int) error {
		h.cluster.nodes[i].halt(true)
		return nil
	})
}

// sealActive seals the active node with the root token and waits for
// another to become active.
func (h *harness) sealActive(ctx context.Context) (fault, error) {
	return h.replaceActive(ctx, "seal", func(i int) error {
		if err := h.cluster.admins[i].API().Sys().SealWithContext(ctx); err != nil {
			return fmt.Errorf("sealing %s: %w", h.cluster.nodes[i].id, err)
		}
		return nil
	})
}

// replaceActive takes the active node i out with cause, named how, and
// waits for another to become active; the node is left for heal.
func (h *harness) replaceActive(ctx context.Context, how string, cause func(i int) error) (fault, error) {
	i, err := h.waitActive(ctx, -1)
	if err != nil {
		return fault{}, err
	}
	f := fault{name: how + " active " + h.cluster.nodes[i].id, from: time.Now()}
	if err := cause(i); err != nil {
		return f, err
	}
	j, err := h.waitActive(ctx, i)
	f.to = time.Now()
	f.name += ", " + h.cluster.nodes[max(j, 0)].id + " active"
	h.down = i
	return f, err
}

// refuseBusiest closes, for 3 s, the tap that carried the most of the
// provider's requests in the last whole second: the node it is using; with
// standby, the busiest of the nodes that are not active.
func (h *harness) refuseBusiest(ctx context.Context, standby bool) (fault, error) {
	last := time.Now().Add(-time.Second)
	active := h.monitor.active()
	k := -1
	for i, t := range h.taps {
		if standby && i == active {
			continue
		}
		if k < 0 || t.requests(last, last) > h.taps[k].requests(last, last) {
			k = i
		}
	}
	f := fault{name: "tap of " + h.cluster.nodes[k].id + " refusing connections", from: time.Now()}
	h.taps[k].refuse()
	err := sleep(ctx, 3*time.Second)
	f.to = time.Now()
	return f, errors.Join(err, h.taps[k].reopen())
}

// heal restarts the node a fault took down (stopping it first if it still
// runs, sealed) and waits until the cluster is whole again.
func (h *harness) heal(ctx context.Context) error {
	if h.down < 0 {
		return nil
	}
	nd := h.cluster.nodes[h.down]
	h.down = -1
	nd.halt(false)
	if err := nd.start(); err != nil {
		return err
	}
	return h.cluster.waitAll(ctx, 60*time.Second)
}

// waitActive waits up to 60 s for an active node other than not (-1:
// any), as the health monitor sees it.
func (h *harness) waitActive(ctx context.Context, not int) (int, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, 60*time.Second, fmt.Errorf("no new active node after 60s"))
	defer cancel()
	i := -1
	err := csitest.WaitFor(ctx, 10*time.Millisecond, func() (bool, error) {
		i = h.monitor.active()
		return i >= 0 && i != not, nil
	})
	return i, err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// rate is the requests per second that reached Vault (all taps) from
// from to to, reckoning the per-second counts as even within a second.
func (h *harness) rate(from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	total := 0.0
	for s := from.Truncate(time.Second); s.Before(to); s = s.Add(time.Second) {
		lo, hi := s, s.Add(time.Second)
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		n := 0
		for _, t := range h.taps {
			n += t.requests(s, s)
		}
		total += float64(n) * hi.Sub(lo).Seconds()
	}
	return total / to.Sub(from).Seconds()
}
