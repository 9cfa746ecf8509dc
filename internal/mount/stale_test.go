package mount_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

const staleObjects = `
- objectName: user
  secretPath: secret/data/app
  secretKey: user
- objectName: maybe
  secretPath: secret/data/absent
  optional: true`

// staleHarness serves with the node's -max-stale-if-error set to maxStale
// (0: off) and a stale cache.
func staleHarness(t *testing.T, maxStale time.Duration) (*harness, *stale.Cache) {
	t.Helper()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	v := vaulttest.StartT(t)
	kept := stale.New(0)
	h := serve(t, v, setupVault(t, v), keys, nil, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{},
		func(o *mount.Options) { o.Stale, o.MaxStaleIfError = kept, maxStale })
	write(t, v, "secret/data/app", map[string]any{"data": map[string]any{"user": "alice-s3cret"}})
	return h, kept
}

// TestStaleIfError: while every address of the class's Vault is down, a
// pod of an identity that read the same request within the window gets
// the files it had, with the same versions; anything else still fails
// Unavailable.
func TestStaleIfError(t *testing.T) {
	const newPod = "9b7f0c1e-1111-4000-8000-000000000002"
	tests := []struct {
		name     string
		maxStale time.Duration
		class    map[string]string // the class's parameters beside objects
		again    map[string]string // the mount made while Vault is down
		want     codes.Code
	}{
		{name: "a new pod of a known identity", maxStale: time.Hour, class: map[string]string{"staleIfError": "10m"},
			again: map[string]string{spc.KeyPodUID: newPod, spc.KeyPodName: "web-2"}, want: codes.OK},
		{name: "the node's flag off", class: map[string]string{"staleIfError": "10m"}, want: codes.Unavailable},
		{name: "the class did not ask", maxStale: time.Hour, want: codes.Unavailable},
		{name: "a new identity", maxStale: time.Hour, class: map[string]string{"staleIfError": "10m"},
			again: map[string]string{spc.KeyServiceAccount: "other"}, want: codes.Unavailable},
		{name: "another role", maxStale: time.Hour, class: map[string]string{"staleIfError": "10m"},
			again: map[string]string{spc.KeyRoleName: "web2"}, want: codes.Unavailable},
		{name: "the window has passed", maxStale: time.Hour, class: map[string]string{"staleIfError": "1ms"}, want: codes.Unavailable},
		{name: "the node's cap has passed", maxStale: time.Millisecond, class: map[string]string{"staleIfError": "10m"}, want: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, kept := staleHarness(t, tt.maxStale)
			params := map[string]string{"objects": staleObjects}
			for k, v := range tt.class {
				params[k] = v
			}
			first, err := h.mount(t, params)
			if err != nil {
				t.Fatal(err)
			}
			if tt.maxStale == 0 || tt.class["staleIfError"] == "" {
				if kept.Len() != 0 {
					t.Errorf("kept %d responses with staleIfError off", kept.Len())
				}
			}
			must(t, h.vault.Stop())
			for k, v := range tt.again {
				params[k] = v
			}
			got, err := h.mount(t, params)
			if code := status.Code(err); code != tt.want {
				t.Fatalf("mount while Vault is down: %s (%v), want %s", code, err, tt.want)
			}
			answered := testutil.ToFloat64(h.metrics.StaleAnswers)
			if tt.want != codes.OK {
				if answered != 0 {
					t.Errorf("stale_answers_total %v after a refusal", answered)
				}
				return
			}
			if diff := cmp.Diff(first, got, protocmp.Transform()); diff != "" {
				t.Errorf("stale answer differs from the last good one (-want +got):\n%s", diff)
			}
			if answered != 2 {
				t.Errorf("stale_answers_total %v, want 2 (the secret and the optional one missing)", answered)
			}
			if !strings.Contains(h.logs.String(), "answered from the last good responses") {
				t.Error("the stale answer was not logged")
			}
		})
	}
}

// TestStaleIfErrorNotOnVaultsAnswer: a 4xx is Vault's answer, never
// replaced by a stale one.
func TestStaleIfErrorNotOnVaultsAnswer(t *testing.T) {
	h, _ := staleHarness(t, time.Hour)
	params := map[string]string{"objects": staleObjects, "staleIfError": "10m"}
	if _, err := h.mount(t, params); err != nil {
		t.Fatal(err)
	}
	if _, err := h.vault.API().Logical().Delete("secret/metadata/app"); err != nil {
		t.Fatal(err)
	}
	_, err := h.mount(t, params)
	checkStatus(t, err, codes.NotFound, nil)
}

// TestStaleIfErrorNotPastLease: a leased secret is never served past its
// lease, whatever the window.
func TestStaleIfErrorNotPastLease(t *testing.T) {
	h, _ := staleHarness(t, time.Hour)
	leasedPKI(t, h)
	params := map[string]string{"objects": strings.ReplaceAll(leasedObjects, "ttl: 30m", "ttl: 2s"), "staleIfError": "10m"}
	if _, err := h.mount(t, params); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // past the lease
	must(t, h.vault.Stop())
	_, err := h.mount(t, params)
	checkStatus(t, err, codes.Unavailable, nil)
}
