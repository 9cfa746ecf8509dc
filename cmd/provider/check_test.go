package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// checkVault is a real Vault with one secret and a jwt role for
// system:serviceaccount:shop:web; it returns a token for that account.
func checkVault(t *testing.T) (*vaulttest.Server, string) {
	t.Helper()
	v := vaulttest.StartT(t)
	ctx := context.Background()
	issuer, err := vaulttest.NewJWTIssuer("https://kubernetes.default.svc")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Write(ctx, "secret/data/db", map[string]any{"data": map[string]any{"password": "check-secret-value"}})
	for _, err := range []error{
		err,
		v.ConfigureJWTAuth(ctx, "jwt", issuer),
		v.WritePolicy(ctx, "web", `path "secret/data/*" { capabilities = ["read"] }`),
		v.WriteJWTRole(ctx, "jwt", "web", "shop", "web", time.Hour, "web"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, err := issuer.ServiceAccountToken("shop", "web", "web-1", "uid-1", "vault", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return v, tok
}

const checkSPC = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db
  namespace: shop
spec:
  provider: vault
  parameters:
    roleName: web
    vaultAuthMountPath: jwt
    objects: |
      - objectName: db/password
        secretPath: secret/data/db
        secretKey: password
        filePermission: 0640
      - objectName: db
        secretPath: secret/data/db
        templateOnly: true
      - objectName: gone
        secretPath: secret/data/no-such
        optional: true
      - objectName: db.conf
        template: "password={{ .db.data.data.password }}"
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckCommand(t *testing.T) {
	v, tok := checkVault(t)
	dir := t.TempDir()
	spc := writeFile(t, dir, "spc.yaml", checkSPC)
	tokenFile := writeFile(t, dir, "token", tok+"\n")
	env := envOf(map[string]string{"VAULT_ADDR": v.Addr})
	base := []string{"mount", "-f", spc, "-token-file", tokenFile, "-service-account", "web"}

	t.Run("writes files with their modes", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "volume")
		var stdout bytes.Buffer
		if err := run(context.Background(), append(base, "-out", out), &stdout, io.Discard, env); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(out, "db", "password")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if string(b) != "check-secret-value" || fi.Mode().Perm() != 0o640 {
			t.Errorf("file %q mode %v", b, fi.Mode())
		}
		if !strings.Contains(stdout.String(), "2 files written") {
			t.Errorf("stdout: %q", stdout.String())
		}
	})
	t.Run("dry run hides values", func(t *testing.T) {
		var stdout bytes.Buffer
		if err := run(context.Background(), append(base, "-dry-run"), &stdout, io.Discard, env); err != nil {
			t.Fatal(err)
		}
		out := stdout.String()
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^db/password +db/password +0640 +18 +[0-9a-f]{12}$`),
			regexp.MustCompile(`(?m)^db\.conf +db\.conf +0600 +27 +[0-9a-f]{12}$`),
			regexp.MustCompile(`(?m)^db +- +- +- +\(templateOnly: read for templates\)$`),
			regexp.MustCompile(`(?m)^gone +- +- +- +\(optional: missing in Vault, left out\)$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("summary lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "check-secret-value") {
			t.Errorf("dry run printed the secret:\n%s", out)
		}
	})
	t.Run("a rejected token names the code", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "token", "not-a-jwt")
		err := run(context.Background(), []string{"mount", "-f", spc, "-token-file", bad, "-dry-run"}, io.Discard, io.Discard, env)
		if err == nil || !strings.Contains(err.Error(), "mount failed (PermissionDenied)") {
			t.Errorf("err = %v, want a PermissionDenied mount failure", err)
		}
	})
	t.Run("wrong provider", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "spc.yaml", strings.Replace(checkSPC, "provider: vault", "provider: azure", 1))
		err := run(context.Background(), []string{"mount", "-f", p, "-token-file", tokenFile, "-dry-run"}, io.Discard, io.Discard, env)
		if err == nil || !strings.Contains(err.Error(), `spec.provider is "azure"`) {
			t.Errorf("err = %v", err)
		}
	})
}

// An app team checks its class against the node's policy before deploying,
// with no Vault and no token: the rule that applies, or the refusal.
func TestCheckPolicyOnly(t *testing.T) {
	dir := t.TempDir()
	spc := writeFile(t, dir, "spc.yaml", checkSPC)
	pol := writeFile(t, dir, "policy.yaml", `
vaultAddresses: ["https://vault.vault.svc:8200"]
rules:
  - name: shop
    namespaces: {names: [shop], labels: {team: shop}}
    roles: [web]
    secretPaths: [{prefix: secret/data/, methods: [GET]}]
default: {roles: []}
`)
	// A KUBECONFIG in the user's shell does not make a mount without a pod.
	env := envOf(map[string]string{"VAULT_ADDR": "https://vault.vault.svc:8200", "KUBECONFIG": filepath.Join(dir, "missing")})
	base := []string{"mount", "-f", spc, "-policy", pol, "-dry-run"}
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"allowed", []string{"-namespace-labels", "team=shop"}, `allowed by the node policy's rule "shop" for namespace shop`, ""},
		{"without the label: the default rule", nil, "",
			`policy check failed (PermissionDenied): refused by the node's policy: the default rule does not allow roleName "web"`},
		{"another namespace", []string{"-pod-namespace", "bank", "-namespace-labels", "team=shop"}, "", "the default rule"},
		{"an address outside", []string{"-namespace-labels", "team=shop", "-vault-addr", "https://evil.example:8200"}, "",
			`vaultAddresses does not allow vaultAddress "https://evil.example:8200"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), append(slices.Clone(base), tc.args...), &stdout, io.Discard, env)
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(stdout.String(), tc.wantOut) {
					t.Fatalf("run = %v, printed %q; want %q", err, stdout.String(), tc.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
