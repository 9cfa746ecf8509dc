package mount

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRevocationsBounds holds revocations in flight (their Vault does not
// answer) and checks whether one more, the probe, runs or waits until it
// gives up.
func TestRevocationsBounds(t *testing.T) {
	for _, tc := range []struct {
		name              string
		perAddress, total int
		held              []string // addresses of the hung revocations
		probe             string
		waitsFor          string // "" if the probe runs
	}{
		{"another address goes on", 2, 4, []string{"a", "a"}, "b", ""},
		{"an address's share", 2, 4, []string{"a", "a"}, "a", "revocation slots of this Vault address"},
		{"the node's bound", 2, 3, []string{"a", "a", "b"}, "c", "revocation slot of the node"},
		{"a full node still serves a free address's share", 2, 3, []string{"a", "b"}, "c", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRevocations(tc.perAddress, tc.total)
			release := make(chan struct{})
			started := make(chan struct{}, len(tc.held))
			var held sync.WaitGroup
			for _, addr := range tc.held {
				held.Go(func() {
					err := r.do(context.Background(), addr, func(context.Context) error {
						started <- struct{}{}
						<-release
						return nil
					})
					if err != nil {
						t.Errorf("held revocation to %s: %v", addr, err)
					}
				})
			}
			for range tc.held {
				receive(t, started)
			}

			// A probe that waits gives up when its deadline passes; one
			// that runs does so at once.
			wait := 10 * time.Second
			if tc.waitsFor != "" {
				wait = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			ran := false
			err := r.do(ctx, tc.probe, func(context.Context) error { ran = true; return nil })
			cancel()
			switch {
			case tc.waitsFor == "" && (err != nil || !ran):
				t.Errorf("probe to %s did not run: %v", tc.probe, err)
			case tc.waitsFor != "" && ran:
				t.Errorf("probe to %s ran beyond the bound", tc.probe)
			case tc.waitsFor != "" && (!errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.waitsFor)):
				t.Errorf("probe to %s gave up with %v, want it to wait for a %q", tc.probe, err, tc.waitsFor)
			}

			close(release)
			held.Wait()
			if n := r.addrs.Keys(); n != 0 {
				t.Errorf("%d addresses remembered after every revocation ended, want 0", n)
			}
		})
	}
}

// receive waits for c; the bound only guards against a hang.
func receive(t *testing.T, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}
