package mount_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// TestCertificateKept: a PKI role without generate_lease issues a new
// certificate on every read; the provider keeps each pod's until it is
// due, per the class, and never hands it to another pod or role. Counted
// in Vault's own list of issued certificates, through the socket.
func TestCertificateKept(t *testing.T) {
	h := newHarness(t)
	must(t, h.vault.WriteJWTRole(context.Background(), "jwt", "web-other", podNamespace, podSA, time.Hour, "web"))
	const objects = `
- {objectName: tls.crt, secretPath: pki/issue/web, method: PUT, secretArgs: {common_name: kept.example.test, ttl: 30m}, secretKey: certificate}
- {objectName: tls.key, secretPath: pki/issue/web, method: PUT, secretArgs: {common_name: kept.example.test, ttl: 30m}, secretKey: private_key}`
	tests := []struct {
		name   string
		params map[string]string
		mounts int
		issued int // new certificates in Vault
	}{
		{"kept across republishes", nil, 3, 1},
		{"another pod gets its own", map[string]string{"csi.storage.k8s.io/pod.uid": "9b7f0c1e-2222-4000-8000-000000000002",
			"csi.storage.k8s.io/pod.name": "web-2"}, 2, 1},
		{"another role gets its own", map[string]string{"roleName": "web-other"}, 2, 1},
		{"renewBeforePercentage 99: due at once", map[string]string{"renewBeforePercentage": "99"}, 2, 2},
		{"certificateReuse off, as the reference", map[string]string{"certificateReuse": "false"}, 2, 2},
		{"back to the default: the pod's kept one", nil, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := issuedCertificates(t, h.vault)
			serials := map[string]bool{}
			for range tt.mounts {
				params := map[string]string{"objects": objects}
				for k, v := range tt.params {
					params[k] = v
				}
				resp, err := h.mount(t, params)
				must(t, err)
				f := files(resp)
				cert := parseCert(t, f["tls.crt"].Content)
				key := parseKey(t, f["tls.key"].Content)
				if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
					t.Fatal("the key does not match the certificate")
				}
				serials[cert.SerialNumber.String()] = true
			}
			if got := issuedCertificates(t, h.vault) - before; got != tt.issued {
				t.Errorf("Vault issued %d certificates over %d mounts, want %d", got, tt.mounts, tt.issued)
			}
			if want := max(tt.issued, 1); len(serials) != want {
				t.Errorf("%d distinct certificates mounted, want %d", len(serials), want)
			}
		})
	}
}

// issuedCertificates counts the certificates Vault's PKI mount has issued.
func issuedCertificates(t *testing.T, v *vaulttest.Server) int {
	t.Helper()
	s, err := v.API().Logical().ListWithContext(context.Background(), "pki/certs")
	must(t, err)
	keys, _ := s.Data["keys"].([]any)
	return len(keys)
}

// TestKVSecretLikeCertificateReadAnew: a KV v1 secret that holds an issued
// certificate and its future expiration, or the whole of a PKI issue
// response, is no certificate issued on each read: a republish after the
// secret changes delivers the change.
func TestKVSecretLikeCertificateReadAnew(t *testing.T) {
	h := newHarness(t)
	issued, err := h.vault.Write(context.Background(), "pki/issue/web", map[string]any{"common_name": "kv.example.test", "ttl": "30m"})
	must(t, err)
	for _, tt := range []struct {
		name   string
		fields []string // of the PKI issue response, stored with the note
	}{
		{"certificate and expiration", []string{"certificate", "expiration"}},
		{"a whole PKI issue response", []string{"certificate", "expiration", "serial_number", "issuing_ca", "private_key"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := func(note string) {
				t.Helper()
				data := map[string]any{"note": note}
				for _, f := range tt.fields {
					data[f] = issued.Data[f]
				}
				write(t, h.vault, "kv1/tls", data)
			}
			note := func() string {
				t.Helper()
				resp, err := h.mount(t, map[string]string{"objects": "- {objectName: note, secretPath: kv1/tls, secretKey: note}"})
				must(t, err)
				return files(resp)["note"].Content
			}
			store("first")
			if got := note(); got != "first" {
				t.Fatalf("first mount: note %q", got)
			}
			store("second")
			if got := note(); got != "second" {
				t.Errorf("republish after the secret changed: note %q, want second: the KV secret was kept as a certificate", got)
			}
		})
	}
}
