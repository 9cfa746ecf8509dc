package mount_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tokenCount is the number of live tokens in Vault (the root token included).
func (h *harness) tokenCount(t *testing.T) int {
	t.Helper()
	s, err := h.vault.API().Logical().ListWithContext(context.Background(), "auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Data["keys"].([]any)
	return len(keys)
}

// TestRevokedCachedTokenLogsInOnce: when Vault refuses a cached token, the
// provider logs in once more and retries; when the fresh token is refused
// too, it gives up instead of looping.
func TestRevokedCachedTokenLogsInOnce(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}})
	params := map[string]string{"objects": "- {objectName: k, secretPath: secret/data/app, secretKey: k}"}
	if _, err := h.mount(t, params); err != nil {
		t.Fatal(err)
	}
	base := h.tokenCount(t)
	if _, err := h.mount(t, params); err != nil {
		t.Fatal(err)
	}
	if got := h.tokenCount(t); got != base {
		t.Fatalf("a warm mount logged in again: %d tokens, want %d", got, base)
	}

	// Revoke every token of the jwt mount: the cached one now gets a 403.
	write(t, h.vault, "sys/leases/revoke-prefix/auth/jwt", nil)
	if _, err := h.mount(t, params); err != nil {
		t.Fatalf("mount after revocation: %v", err)
	}
	if got := h.tokenCount(t); got != base {
		t.Errorf("after revocation: %d tokens, want %d (one new login)", got, base)
	}

	// Take the permission away: the retry with a fresh token fails too, and
	// exactly one more login happened.
	if err := h.vault.WritePolicy(context.Background(), "web", `path "kv1/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	_, err := h.mount(t, params)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("code = %s (%v), want PermissionDenied", status.Code(err), err)
	}
	if got := h.tokenCount(t); got != base+1 {
		t.Errorf("after a denied retry: %d tokens, want %d (exactly one more login)", got, base+1)
	}
}

// TestLogsHoldNoTokensOrSecrets captures the provider's debug logs over
// successful and failing mounts and looks for every credential and value.
func TestLogsHoldNoTokensOrSecrets(t *testing.T) {
	h := newHarness(t)
	secretValues := []string{"s3cr3t-password-value", "another-secret-value-42"}
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"password": secretValues[0], "api": secretValues[1]}})
	mounts := []map[string]string{
		{"objects": "- {objectName: p, secretPath: secret/data/app, secretKey: password}\n- {objectName: all, secretPath: secret/data/app}"},
		{"objects": "- {objectName: p, secretPath: secret/data/app, secretKey: missing}"},
		{"objects": "- {objectName: p, secretPath: secret/data/app, secretKey: password, encoding: hex}"},
		{"objects": "- {objectName: p, secretPath: sys/mounts}"},
		{"roleName": "nobody", "objects": "- {objectName: p, secretPath: secret/data/app}"},
		{"csi.storage.k8s.io/serviceAccount.name": "intruder", "objects": "- {objectName: p, secretPath: secret/data/app}"},
		{"objects": "- {objectName: p, secretPath: secret/data/app, secretArgs: {password: " + secretValues[1] + "}, method: bogus}"},
	}
	var errs []string
	for _, params := range mounts {
		if _, err := h.mount(t, params); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != len(mounts)-1 {
		t.Fatalf("%d of %d mounts failed, want all but the first: %v", len(errs), len(mounts), errs)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "grpc call") || !strings.Contains(logs, "pod=shop/web-1") {
		t.Fatalf("captured no call logs:\n%s", logs)
	}
	forbidden := append([]string{
		h.saToken(t, podSA)[:40], // any token signed for the pod shares this header and claims prefix
		"hvs.",                   // Vault service tokens
		"eyJ",                    // any JWT
	}, secretValues...)
	for _, f := range forbidden {
		if strings.Contains(logs, f) {
			t.Errorf("logs contain %q", f)
		}
		for _, e := range errs {
			if strings.Contains(e, f) {
				t.Errorf("error %q contains %q", e, f)
			}
		}
	}
}
