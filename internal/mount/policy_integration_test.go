package mount_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// staticLabels are the namespaces' labels a namespace watch would give.
type staticLabels map[string]map[string]string

func (s staticLabels) Labels(_ context.Context, ns string) (map[string]string, error) {
	l, ok := s[ns]
	if !ok {
		return nil, errors.New("not found")
	}
	return l, nil
}

// The node's policy against the real Vault: every kind of rule, the pod's
// volumeAttributes over the class, a reload, and that a refused mount
// reaches neither Vault nor a file.
func TestPolicy(t *testing.T) {
	v := vaulttest.StartT(t)
	issuer := setupVault(t, v)
	write(t, v, "secret/data/shop/db", map[string]any{"data": map[string]any{"password": "s3cret-shop"}})
	write(t, v, "secret/data/bank/db", map[string]any{"data": map[string]any{"password": "s3cret-bank"}})
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy(`
vaultAddresses: ["` + v.Addr + `"]
classMayNotSet: [vaultSkipTLSVerify, vaultCACertPath]
rules:
  - name: shop
    namespaces: {names: [shop], labels: {team: shop}}
    roles: [web]
    serviceAccounts: [web]
    authMounts: [jwt]
    secretPaths:
      - prefix: secret/data/shop/
        methods: [GET]
default:
  roles: []
`)
	pol, err := policy.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	labels := staticLabels{podNamespace: {"team": "shop"}, "shop-2": {"team": "bank"}}
	h := serve(t, v, issuer, ephemeralKeys(t), nil, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{},
		func(o *mount.Options) { o.Policy, o.NamespaceLabels = pol, labels })
	shopDB := "- objectName: db\n  secretPath: secret/data/shop/db\n  secretKey: password\n"

	tests := []struct {
		name     string
		params   map[string]string
		wantRule string
		want     []string
	}{
		{"allowed", map[string]string{"objects": shopDB}, "", nil},
		{"another team's path", map[string]string{"objects": "- objectName: db\n  secretPath: secret/data/bank/db\n  secretKey: password\n"},
			"shop", []string{`rule "shop" does not allow secretPath "secret/data/bank/db" of object "db"`}},
		{"a write to an allowed path", map[string]string{"objects": shopDB + "  method: POST\n"},
			"shop", []string{`does not allow method "POST"`}},
		{"volumeAttributes override the address", map[string]string{"objects": shopDB, spc.KeyVaultAddress: "http://169.254.169.254"},
			policy.AddressesPart, []string{`vaultAddresses does not allow vaultAddress "http://169.254.169.254"`}},
		{"several addresses, one outside", map[string]string{"objects": shopDB, spc.KeyVaultAddress: v.Addr + ",http://127.0.0.1:1"},
			policy.AddressesPart, []string{`"http://127.0.0.1:1"`}},
		{"a parameter the class may not set", map[string]string{"objects": shopDB, spc.KeySkipVerify: "true"},
			policy.MayNotSetPart, []string{"classMayNotSet does not let a class or a pod's volumeAttributes set vaultSkipTLSVerify"}},
		{"another role", map[string]string{"objects": shopDB, spc.KeyRoleName: "admin"},
			"shop", []string{`does not allow roleName "admin"`}},
		{"another service account", map[string]string{"objects": shopDB, spc.KeyServiceAccount: "other"},
			"shop", []string{`does not allow serviceAccount "other"`}},
		{"another auth mount", map[string]string{"objects": shopDB, spc.KeyAuthMount: "kubernetes"},
			"shop", []string{`does not allow vaultAuthMountPath "kubernetes"`}},
		{"a namespace of another label: the default rule", map[string]string{"objects": shopDB, spc.KeyPodNamespace: "shop-2"},
			policy.DefaultRule, []string{`the default rule does not allow roleName "web"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logins := testutil.ToFloat64(h.metrics.Logins.WithLabelValues("ok"))
			resp, err := h.mount(t, tc.params)
			if tc.wantRule == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := files(resp)["db"].Content; got != "s3cret-shop" {
					t.Fatalf("db = %q", got)
				}
				return
			}
			checkStatus(t, err, codes.PermissionDenied, append(tc.want, "refused by the node's policy"))
			if got := testutil.ToFloat64(h.metrics.PolicyDenials.WithLabelValues(tc.wantRule)); got < 1 {
				t.Errorf("policy_denials_total{rule=%q} = %v", tc.wantRule, got)
			}
			if got := testutil.ToFloat64(h.metrics.Logins.WithLabelValues("ok")); got != logins {
				t.Errorf("a refused mount logged in to Vault (%v logins, was %v)", got, logins)
			}
		})
	}

	// The admin widens the rule: the next mount is judged by the new file.
	writePolicy(strings.Replace(mustRead(t, path), "prefix: secret/data/shop/", "prefix: secret/data/", 1))
	if changed, err := pol.Reload(); !changed || err != nil {
		t.Fatalf("Reload: %v, %v", changed, err)
	}
	resp, err := h.mount(t, map[string]string{"objects": "- objectName: db\n  secretPath: secret/data/bank/db\n  secretKey: password\n"})
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	if got := files(resp)["db"].Content; got != "s3cret-bank" {
		t.Fatalf("db = %q", got)
	}
	if strings.Contains(h.logs.String(), "s3cret") {
		t.Error("the log holds a secret value")
	}
}

// Without the namespace's labels a rule that matches by label cannot be
// judged: the mount fails Unavailable rather than falling to a wider rule.
func TestPolicyNamespaceLabelsUnknown(t *testing.T) {
	v := vaulttest.StartT(t)
	issuer := setupVault(t, v)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  - name: shop\n    namespaces: {labels: {team: shop}}\ndefault: {roles: []}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, labels := range map[string]mount.NamespaceLabels{"no watch": nil, "not found": staticLabels{}} {
		t.Run(name, func(t *testing.T) {
			h := serve(t, v, issuer, ephemeralKeys(t), nil, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{},
				func(o *mount.Options) { o.Policy, o.NamespaceLabels = pol, labels })
			_, err := h.mount(t, map[string]string{"objects": "- objectName: a\n  secretPath: secret/data/a\n"})
			checkStatus(t, err, codes.Unavailable, []string{"labels"})
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ephemeralKeys(t *testing.T) mount.KeySource {
	t.Helper()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
