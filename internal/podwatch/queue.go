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

// empty reports whether no uid is waiting or in flight.
func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held) == 0
}

// drain starts fn for each queued uid on a goroutine of its own until ctx
// ends, so a pod whose Vault hangs does not hold back the pods behind it:
// the Forgetter bounds its own Vault calls, and the uids held are bounded
// by the pods of the node. idle (if not nil) is called once no uid has been
// waiting or in flight for quiet, so a burst of deletes ends in one idle
// call. Uids still waiting when ctx ends are dropped: ctx is gone, so fn
// could not revoke anyway. drain returns once every fn it started has.
func (q *queue) drain(ctx context.Context, fn func(context.Context, string), idle func(), quiet time.Duration) {
	var running sync.WaitGroup
	defer running.Wait()
	finished := make(chan struct{}, 1) // "some fn may have returned"
	settle := time.NewTimer(quiet)
	settle.Stop()
	defer settle.Stop()
	for {
		for uid, ok := q.next(); ok; uid, ok = q.next() {
			if ctx.Err() != nil {
				return
			}
			settle.Stop()
			running.Go(func() {
				fn(ctx, uid)
				q.done(uid)
				select {
				case finished <- struct{}{}:
				default:
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-finished:
			if idle != nil && q.empty() {
				settle.Reset(quiet)
			}
		case <-settle.C:
			idle()
		}
	}
}
