// Package podwatch watches the pods of this node so the provider can revoke
// the Vault tokens and leases it issued for a pod once the pod is gone, and so
// per-pod caches stay bounded by the pods that actually run here.
//
// Delete events give prompt revocation; a periodic sweep compares what the
// Forgetter holds with the informer's pods and catches deletes the watch
// missed (provider down, watch broken) and pods that terminated but linger.
// Once a batch of pods is forgotten, the memory it freed goes back to the OS
// (at most once a minute).
package podwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	defaultResync      = time.Minute
	defaultSyncTimeout = time.Minute
	// forgetTimeout bounds one ForgetPod, its waits for the Forgetter's
	// revocation slots included, so the pods of a hung Vault do not pile up.
	forgetTimeout = 30 * time.Second
)

// ErrNotSynced is returned (wrapped) when the pods informer cannot list pods
// in time, typically because RBAC forbids it.
var ErrNotSynced = errors.New("pods informer did not sync")

// Forgetter drops everything cached for a pod and revokes what Vault issued
// for it. ForgetPod must be idempotent and cheap for unknown uids: a pod can
// be reported by both a delete event and a sweep. ForgetPod is called for
// many pods at once, so it bounds its own Vault calls.
type Forgetter interface {
	ForgetPod(ctx context.Context, uid string)
	// PodGone records at once, without I/O, that the pod is gone, before
	// its ForgetPod is queued: a mount of the pod still logging in then
	// revokes what it caches itself instead of leaving it to a sweep.
	PodGone(uid string)
	// PodUIDs lists the pods something is cached for.
	PodUIDs() []string
}

// Options configure Run.
type Options struct {
	// Pods lists and watches the pods of NodeName (internal/kube's
	// Client.PodsOnNode); required.
	Pods     cache.ListerWatcher
	NodeName string        // the node, for messages; required
	Resync   time.Duration // how often cached pods are compared with the pods that exist; 0 means 1m
	Logger   *slog.Logger  // nil discards
}

func (o Options) validate() error {
	var errs []error
	if o.Pods == nil {
		errs = append(errs, errors.New("podwatch: Pods is required"))
	}
	if o.NodeName == "" {
		errs = append(errs, errors.New("podwatch: NodeName is required"))
	}
	if o.Resync < 0 {
		errs = append(errs, fmt.Errorf("podwatch: Resync %s must not be negative", o.Resync))
	}
	return errors.Join(errs...)
}

// Run watches until ctx ends and then returns nil. A delete event (including
// DeletedFinalStateUnknown tombstones) queues ForgetPod for the pod. Right
// after the informer syncs and then every Resync, uids from PodUIDs that are
// not a running pod of this node (absent, or phase Succeeded/Failed) are
// queued too, once they have been missing at two consecutive sweeps. Each
// ForgetPod runs on a goroutine of its own, so a slow Vault stalls neither
// the watch nor the other pods' ForgetPod.
// Run returns an error wrapping ErrNotSynced if the informer cannot sync.
func Run(ctx context.Context, o Options, f Forgetter) error {
	if err := o.validate(); err != nil {
		return err
	}
	return newWatcher(o, f).run(ctx, defaultSyncTimeout)
}

type watcher struct {
	pods   cache.ListerWatcher
	node   string
	resync time.Duration
	log    *slog.Logger
	f      Forgetter
	q      *queue
	mem    *releaser
	// missing holds uids absent at the last sweep. A uid is forgotten only
	// when it is still absent one sweep later: a pod mounted just now may
	// not have reached the informer yet, and revoking its leases would
	// break a running workload.
	missing map[string]struct{}
}

func newWatcher(o Options, f Forgetter) *watcher {
	w := &watcher{pods: o.Pods, node: o.NodeName, resync: o.Resync, log: o.Logger, f: f, q: newQueue(), mem: newReleaser()}
	if w.resync == 0 {
		w.resync = defaultResync
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w
}

func (w *watcher) run(ctx context.Context, syncTimeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	inf := cache.NewSharedIndexInformer(w.pods, &corev1.Pod{}, 0, cache.Indexers{})
	var lastErr listError
	if err := errors.Join(
		inf.SetTransform(stripPod),
		inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			lastErr.set(err)
			w.log.Debug("pod watch interrupted", "error", err)
		}),
	); err != nil {
		cancel()
		return fmt.Errorf("podwatch: configure informer: %w", err)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: w.onDelete}); err != nil {
		cancel()
		return fmt.Errorf("podwatch: add event handler: %w", err)
	}

	var wg sync.WaitGroup
	wg.Go(func() { inf.RunWithContext(ctx) })
	wg.Go(func() { w.q.drain(ctx, w.forget, w.mem.release, releaseQuiet) })
	defer func() {
		cancel()
		wg.Wait() // the informer's goroutines end with ctx
	}()

	syncCtx, stopSync := context.WithTimeout(ctx, syncTimeout)
	synced := cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced)
	stopSync()
	if !synced {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w within %s: the provider needs list/watch on pods for -revoke-on-pod-delete (node %q): %w",
			ErrNotSynced, syncTimeout, w.node, lastErr.get())
	}
	w.log.Info("watching pods to revoke their Vault leases on delete", "node", w.node, "resync", w.resync)

	tick := time.NewTicker(w.resync)
	defer tick.Stop()
	for {
		w.sweep(inf.GetStore())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// listError keeps the informer's last list/watch error for the sync error.
type listError struct {
	mu  sync.Mutex
	err error
}

func (l *listError) set(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *listError) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return errors.New("no list error reported")
	}
	return l.err
}
