package mount

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// TestParseWaitsForBudget checks that a request waits while the node's
// parsing budget is spent, within its own deadline, and parses once the
// budget is back.
func TestParseWaitsForBudget(t *testing.T) {
	clients, err := vault.NewClients(1, vault.DefaultRetryPolicy())
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(1, auth.NewTokenRequester(nil, time.Minute, auth.AudiencePolicy{Allowed: []string{"vault"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	d := spc.Defaults{Vault: vault.Config{Address: "https://vault.default:8200"}, AuthMount: "kubernetes", Audience: "vault"}
	d.Limits = spc.Limits{AttributesBytes: 4 << 10}
	s, err := NewService(Options{Defaults: d, Clients: clients, Auth: authn, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	req := &pb.MountRequest{Attributes: `{"roleName":"app"}`, Permission: "420"}
	if err := s.parsing.Acquire(t.Context(), 4<<10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Mount(ctx, req); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("with the budget spent: %v, want DeadlineExceeded", err)
	}
	s.parsing.Release(4 << 10)
	_, err = s.Mount(t.Context(), req)
	if got := status.Code(err); got != codes.InvalidArgument || !strings.Contains(err.Error(), "no objects") {
		t.Fatalf("with the budget back: %v, want the parameters' problems", err)
	}
}
