package coalesce

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type key struct{ a, b string }

// blocking counts its calls and blocks each until
// release is closed or the call's context ends.
type blocking struct {
	calls    atomic.Int32
	started  chan struct{}
	release  chan struct{}
	canceled chan struct{}
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 10), release: make(chan struct{}), canceled: make(chan struct{}, 10)}
}

func (b *blocking) fn(ctx context.Context) (string, error) {
	b.calls.Add(1)
	b.started <- struct{}{}
	select {
	case <-b.release:
		return "value", nil
	case <-ctx.Done():
		b.canceled <- struct{}{}
		return "", ctx.Err()
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestFirstCallerGoneSecondServed: before, the second caller inherited the
// first caller's cancellation (singleflight ran the call on its context).
func TestFirstCallerGoneSecondServed(t *testing.T) {
	var g Group[key, string]
	b := newBlocking()
	first, cancelFirst := context.WithCancel(testContext(t))
	firstErr := make(chan error, 1)
	go func() {
		_, err := g.Do(first, key{"a", "b"}, b.fn)
		firstErr <- err
	}()
	<-b.started
	second := make(chan string, 1)
	go func() {
		v, err := g.Do(testContext(t), key{"a", "b"}, b.fn)
		if err != nil {
			v = err.Error()
		}
		second <- v
	}()
	waitWaiters(t, &g, key{"a", "b"}, 2)
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: %v, want context.Canceled", err)
	}
	close(b.release)
	if v := <-second; v != "value" {
		t.Errorf("second caller got %q, want the shared value", v)
	}
	if n := b.calls.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
	if len(b.canceled) != 0 {
		t.Error("the shared call was cancelled while a caller still waited")
	}
}

func TestLastCallerGoneCancelsCall(t *testing.T) {
	var g Group[key, string]
	b := newBlocking()
	ctx, cancel := context.WithCancel(testContext(t))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := g.Do(ctx, key{"a", "b"}, b.fn)
			errs <- err
		}()
	}
	<-b.started
	waitWaiters(t, &g, key{"a", "b"}, 2)
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("caller: %v, want context.Canceled", err)
		}
	}
	<-b.canceled // the call itself ends: nobody waits for it
}

// TestKeysDoNotCollide: keys are structs, so fields that would join into
// the same string stay distinct calls.
func TestKeysDoNotCollide(t *testing.T) {
	var g Group[key, string]
	b := newBlocking()
	ctx := testContext(t)
	done := make(chan struct{}, 2)
	for _, k := range []key{{"a", "b\x00c"}, {"a\x00b", "c"}} {
		go func() {
			_, _ = g.Do(ctx, k, b.fn)
			done <- struct{}{}
		}()
	}
	<-b.started
	<-b.started
	close(b.release)
	<-done
	<-done
	if n := b.calls.Load(); n != 2 {
		t.Errorf("fn ran %d times for two distinct keys, want 2", n)
	}
}

func TestValuesReachCall(t *testing.T) {
	type ctxKey struct{}
	var g Group[key, string]
	ctx := context.WithValue(testContext(t), ctxKey{}, "tenant")
	v, err := g.Do(ctx, key{}, func(ctx context.Context) (string, error) {
		s, _ := ctx.Value(ctxKey{}).(string)
		return s, nil
	})
	if err != nil || v != "tenant" {
		t.Errorf("Do = %q, %v; want the caller's context value", v, err)
	}
}

func waitWaiters(t *testing.T, g *Group[key, string], k key, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		c := g.calls[k]
		got := 0
		if c != nil {
			got = c.waiters
		}
		g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
