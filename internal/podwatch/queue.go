package podwatch

import (
	"context"
	"sync"
	"time"
)

// queue holds the uids waiting for ForgetPod, in order. A uid is held at most
// once while waiting or in flight, so a delete event and a sweep reporting
// the same pod do not revoke twice over; the memory it uses is bounded by the
// pods of the node.
type queue struct {
	mu      sync.Mutex
	pending []string
	held    map[string]struct{} // waiting or in flight
	wake    chan struct{}       // buffered 1: "pending may be non-empty"
}

func newQueue() *queue {
	return &queue{held: make(map[string]struct{}), wake: make(chan struct{}, 1)}
}

// add queues uid unless it is already waiting or in flight; it never blocks.
func (q *queue) add(uid string) bool {
	q.mu.Lock()
	if _, ok := q.held[uid]; ok {
		q.mu.Unlock()
		return false
	}
	q.held[uid] = struct{}{}
	q.pending = append(q.pending, uid)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *queue) next() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return "", false
	}
	uid := q.pending[0]
	q.pending[0] = ""
	q.pending = q.pending[1:]
	return uid, true
}

func (q *queue) done(uid string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.held, uid)
}

// has reports whether uid is waiting or in flight.
func (q *queue) has(uid string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.held[uid]
	return ok
}

// drain calls fn for each queued uid, one at a time, until ctx ends, and
// idle (if not nil) once the queue has stayed empty for quiet after fn ran,
// so a burst of deletes ends in one idle call. Uids still waiting when ctx
// ends are dropped: ctx is gone, so fn could not revoke anyway.
func (q *queue) drain(ctx context.Context, fn func(context.Context, string), idle func(), quiet time.Duration) {
	settle := time.NewTimer(quiet)
	settle.Stop()
	defer settle.Stop()
	for {
		ran := false
		for uid, ok := q.next(); ok; uid, ok = q.next() {
			if ctx.Err() != nil {
				return
			}
			fn(ctx, uid)
			q.done(uid)
			ran = true
		}
		if ran && idle != nil {
			settle.Reset(quiet)
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-settle.C:
			idle()
		}
	}
}
