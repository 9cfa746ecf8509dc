package keyed

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSemaphores(t *testing.T) {
	s := New(2)
	ctx := context.Background()
	r1, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Key a is full: a third waits until its deadline; key b is served.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third slot of a: %v", err)
	}
	rb, err := s.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Keys(); n != 2 {
		t.Errorf("%d keys in use, want 2", n)
	}
	r1()
	r3, err := s.Acquire(ctx, "a")
	if err != nil {
		t.Fatalf("a slot given back: %v", err)
	}
	for _, r := range []func(){r2, r3, rb} {
		r()
	}
	if n := s.Keys(); n != 0 {
		t.Errorf("%d keys remembered once idle, want 0", n)
	}
}
