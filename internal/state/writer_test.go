package state_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
)

// TestWriterRun: a change is written within the delay, and what changed
// after the last write is written when the context ends.
func TestWriterRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.state")
	key := newKey(t)
	leases := lease.New(lease.Options{})
	w := &state.Writer{Path: path, Key: key, Max: 1 << 20, Sources: state.Sources{Leases: leases}, Delay: 10 * time.Millisecond,
		Metrics: metrics.NewUnregistered(), Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	put := func(uid string) {
		leases.Put(lease.Key{PodUID: uid, Identity: lease.Identity{Request: "GET database/creds/web"}},
			&api.Secret{LeaseID: "database/creds/web/" + uid, LeaseDuration: 3600, Data: map[string]any{"password": "s3cret"}},
			"hvs.token", time.Time{})
	}
	count := func() int {
		s, err := state.Load(path, key)
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Leases)
	}
	put("a")
	deadline := time.Now().Add(10 * time.Second)
	for count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the change was not written within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	put("b")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d leases in the file after the last write, want 2", n)
	}
}
