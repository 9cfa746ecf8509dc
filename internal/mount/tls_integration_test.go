package mount_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// TestMountOverTLS mounts through the socket from a real Vault serving
// https with a certificate from its own dev CA, valid for localhost and
// 127.0.0.1 among others. The node default address is that server; each
// case sets the node's TLS defaults and the class's TLS parameters.
func TestMountOverTLS(t *testing.T) {
	v := vaulttest.StartTLST(t)
	issuer := setupVault(t, v)
	write(t, v, "secret/data/tls", map[string]any{"data": map[string]any{"k": "over-tls"}})

	caDir := t.TempDir()
	copyFile(t, v.CACert, filepath.Join(caDir, "vault-ca.pem"))
	// A real CA that did not sign Vault's certificate: the PKI engine's root.
	pkiCA, err := v.API().Logical().ReadWithContext(context.Background(), "pki/cert/ca")
	if err != nil || pkiCA == nil {
		t.Fatalf("reading pki/cert/ca: %v, %v", pkiCA, err)
	}
	wrongCA := filepath.Join(t.TempDir(), "wrong-ca.pem")
	if err := os.WriteFile(wrongCA, []byte(pkiCA.Data["certificate"].(string)), 0o600); err != nil {
		t.Fatal(err)
	}

	const unknownCA = "certificate signed by unknown authority"
	tests := []struct {
		name     string
		node     vault.Config // Address is set to the server's
		params   map[string]string
		wantCode codes.Code // codes.OK: the file must hold the secret
		want     []string   // in the status message
	}{
		{name: "vaultCACertPath", params: map[string]string{"vaultCACertPath": v.CACert}},
		{name: "vaultCADirectory holding the CA", params: map[string]string{"vaultCADirectory": caDir}},
		{name: "no CA", wantCode: codes.InvalidArgument, want: []string{"TLS verification failed", unknownCA}},
		{name: "vaultSkipTLSVerify without CA", params: map[string]string{"vaultSkipTLSVerify": "true"}},
		{name: "vaultSkipTLSVerify false overrides the node's true", node: vault.Config{SkipVerify: true},
			params: map[string]string{"vaultSkipTLSVerify": "false"}, wantCode: codes.InvalidArgument, want: []string{unknownCA}},
		// 127.0.0.1 alone would verify too, so only the failing name proves
		// that vaultTLSServerName is what gets checked.
		{name: "vaultTLSServerName in the certificate",
			params: map[string]string{"vaultCACertPath": v.CACert, "vaultTLSServerName": "localhost"}},
		{name: "vaultTLSServerName not in the certificate",
			params:   map[string]string{"vaultCACertPath": v.CACert, "vaultTLSServerName": "vault.invalid"},
			wantCode: codes.InvalidArgument, want: []string{"TLS verification failed", "certificate is valid for", "not vault.invalid"}},
		{name: "node default CA", node: vault.Config{CACert: v.CACert}},
		{name: "vaultCACertPath overrides the node CA", node: vault.Config{CACert: v.CACert},
			params: map[string]string{"vaultCACertPath": wrongCA}, wantCode: codes.InvalidArgument, want: []string{unknownCA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := hmackey.Ephemeral()
			if err != nil {
				t.Fatal(err)
			}
			// A provider per case: the node defaults differ, and no client or
			// token cached by one case can help another.
			node := tt.node
			node.Address = v.Addr
			h := serve(t, v, issuer, keys, nil, node, lease.Options{}, spc.Limits{})
			params := map[string]string{"objects": "- {objectName: k, secretPath: secret/data/tls, secretKey: k}"}
			for k, val := range tt.params {
				params[k] = val
			}
			resp, err := h.mount(t, params)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %s (%s), want %s", st.Code(), st.Message(), tt.wantCode)
			}
			if tt.wantCode == codes.OK {
				if diff := cmp.Diff(map[string]file{"k": {"over-tls", 0o644}}, files(resp)); diff != "" {
					t.Errorf("files (-want +got):\n%s", diff)
				}
				return
			}
			t.Logf("%s: %s", st.Code(), st.Message())
			for _, w := range tt.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message lacks %q: %s", w, st.Message())
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
