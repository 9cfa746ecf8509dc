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

// TestMountWaitsForRoom checks that a mount waits while its namespace's
// share of the node's pool is held, within its own deadline, that another
// namespace is served meanwhile, and that the mount goes ahead once room is
// back.
func TestMountWaitsForRoom(t *testing.T) {
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
	d.Limits = spc.Limits{MountMemory: 4 << 20, NodeMemory: 16 << 20}
	s, err := NewService(Options{Defaults: d, Clients: clients, Auth: authn, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	req := func(ns string) *pb.MountRequest {
		return &pb.MountRequest{Attributes: `{"roleName":"app","csi.storage.k8s.io/pod.namespace":"` + ns + `"}`, Permission: "420"}
	}
	// One account at its cap fills namespace a's share (a quarter of
	// the node, here one mount's cap).
	held, err := s.pool.Open(t.Context(), "a", s.account)
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Charge(4<<20, "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Mount(ctx, req("a")); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("with its namespace's share held: %v, want DeadlineExceeded", err)
	}
	wantProblems := func(err error) {
		t.Helper()
		if got := status.Code(err); got != codes.InvalidArgument || !strings.Contains(err.Error(), "no objects") {
			t.Fatalf("%v, want the parameters' problems", err)
		}
	}
	_, err = s.Mount(t.Context(), req("b"))
	wantProblems(err)
	held.Close()
	_, err = s.Mount(t.Context(), req("a"))
	wantProblems(err)
	if used := s.pool.Used(); used != 0 {
		t.Errorf("the pool holds %d bytes after every mount ended", used)
	}
}

func TestNamespaceOf(t *testing.T) {
	for raw, want := range map[string]string{
		`{"csi.storage.k8s.io/pod.namespace":"team-a","x":"y"}`:           "team-a",
		`{"x":"\"csi.storage.k8s.io/pod.namespace\":\"victim\"","y":"z"}`: "",
		`{"roleName":"r"}`: "",
		`{"csi.storage.k8s.io/pod.namespace":"` + strings.Repeat("n", 64) + `"}`: "",
	} {
		if got := namespaceOf(raw); got != want {
			t.Errorf("namespaceOf(%s) = %q, want %q", raw, got, want)
		}
	}
}
