package podwatch

import (
	"runtime/debug"
	"time"
)

const (
	// releaseQuiet is how long no pod must have been forgotten before the
	// memory is released: the end of a burst of deletes.
	releaseQuiet = time.Second
	// minReleaseInterval spaces out releases, each a full garbage
	// collection, when pods are deleted one by one.
	minReleaseInterval = 10 * time.Second
)

// releaser hands the memory freed by forgetting pods back to the OS once a
// burst of deletes is over, so a node sees the provider shrink right after a
// scale-down instead of whenever the runtime's background scavenger gets to
// it. Only the queue's drain goroutine calls release.
type releaser struct {
	last time.Time
	now  func() time.Time
	free func()
}

func newReleaser() *releaser {
	return &releaser{now: time.Now, free: debug.FreeOSMemory}
}

func (r *releaser) release() {
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < minReleaseInterval {
		return
	}
	r.last = now
	r.free()
}
