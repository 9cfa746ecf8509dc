// Package keyed bounds concurrent work per key (a tenant, a Vault): each key
// has a semaphore of its own, which lives only while a caller holds or waits
// for one of its slots, so keys chosen by classes keep no memory once idle.
package keyed

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Semaphores gives each key n slots. It is safe for concurrent use.
type Semaphores struct {
	n  int64
	mu sync.Mutex
	m  map[string]*entry // keys with slots held or waited for
}

type entry struct {
	sem   *semaphore.Weighted
	users int // guarded by Semaphores.mu
}

// New returns semaphores of n slots per key.
func New(n int64) *Semaphores {
	return &Semaphores{n: n, m: make(map[string]*entry)}
}

// Slots is the number of slots per key.
func (s *Semaphores) Slots() int64 { return s.n }

// Acquire waits within ctx for one of key's slots; release gives it back.
// On failure it returns ctx's error and holds nothing.
func (s *Semaphores) Acquire(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	e := s.m[key]
	if e == nil {
		e = &entry{sem: semaphore.NewWeighted(s.n)}
		s.m[key] = e
	}
	e.users++
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		if e.users--; e.users == 0 {
			delete(s.m, key)
		}
		s.mu.Unlock()
	}
	if err := e.sem.Acquire(ctx, 1); err != nil {
		leave()
		return nil, err
	}
	return func() {
		e.sem.Release(1)
		leave()
	}, nil
}

// Keys reports how many keys have slots held or waited for.
func (s *Semaphores) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
