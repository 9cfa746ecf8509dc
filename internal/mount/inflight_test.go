package mount

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
)

// TestAbandon: Abandon cancels and names the mounts still running, and
// only those.
func TestAbandon(t *testing.T) {
	s := &Service{}
	stuck := auth.Pod{Namespace: "shop", Name: "web-1", UID: "u1"}
	stuckCtx, _ := s.running.track(context.Background(), stuck)
	finishedCtx, finish := s.running.track(context.Background(), auth.Pod{Namespace: "shop", Name: "web-2", UID: "u2"})
	finish()
	if finishedCtx.Err() == nil {
		t.Error("a finished mount's context is still live")
	}

	if diff := cmp.Diff([]auth.Pod{stuck}, s.Abandon()); diff != "" {
		t.Errorf("abandoned (-want +got):\n%s", diff)
	}
	if stuckCtx.Err() == nil {
		t.Error("the abandoned mount's context was not cancelled")
	}
}
