package mount

import (
	"context"
	"sync"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
)

// inFlight tracks the mounts running, so that a daemon which stops without
// waiting for them can cancel them and say which they were.
type inFlight struct {
	mu     sync.Mutex
	next   uint64
	mounts map[uint64]runningMount
}

type runningMount struct {
	pod    auth.Pod
	cancel context.CancelFunc
}

// track registers a mount for pod. The returned context is cancelled by
// Abandon; done must be called when the mount ends.
func (f *inFlight) track(ctx context.Context, pod auth.Pod) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mounts == nil {
		f.mounts = map[uint64]runningMount{}
	}
	id := f.next
	f.next++
	f.mounts[id] = runningMount{pod: pod, cancel: cancel}
	return ctx, func() {
		f.mu.Lock()
		delete(f.mounts, id)
		f.mu.Unlock()
		cancel()
	}
}

// Abandon cancels every mount still running and returns their pods, for a
// daemon that stops without waiting for them any longer. A mount stuck
// where it cannot see its context (a read of a file that never ends) keeps
// running until the process exits.
func (s *Service) Abandon() []auth.Pod {
	s.running.mu.Lock()
	defer s.running.mu.Unlock()
	pods := make([]auth.Pod, 0, len(s.running.mounts))
	for _, m := range s.running.mounts {
		m.cancel()
		pods = append(pods, m.pod)
	}
	return pods
}
