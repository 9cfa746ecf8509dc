package vaulttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStartTLS(t *testing.T) {
	s := StartTLST(t)
	ctx := context.Background()
	if !strings.HasPrefix(s.Addr, "https://127.0.0.1:") || filepath.Base(s.CACert) != "vault-ca.pem" {
		t.Fatalf("Addr %q, CACert %q", s.Addr, s.CACert)
	}

	// The root client talks TLS, trusting the generated CA.
	health, err := s.API().Sys().HealthWithContext(ctx)
	if err != nil || health.Version != Version {
		t.Fatalf("health over TLS = %+v, %v", health, err)
	}
	if _, err := s.Write(ctx, "secret/data/tls", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}

	// The certificate's names, which TLSServerName tests rely on.
	dir := filepath.Dir(s.CACert)
	ca, leaf := readCert(t, s.CACert), readCert(t, filepath.Join(dir, "vault-cert.pem"))
	if !ca.IsCA {
		t.Errorf("%s is not a CA certificate", s.CACert)
	}
	if !slices.Contains(leaf.DNSNames, "localhost") || !slices.ContainsFunc(leaf.IPAddresses, net.IP.IsLoopback) {
		t.Errorf("server certificate names %v %v, want localhost and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}

	// Without the CA the server is not trusted; plain HTTP is refused.
	var resp *http.Response
	if resp, err = http.Get(s.Addr + "/v1/sys/health"); err == nil {
		resp.Body.Close()
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("GET without the CA: %v, want a certificate verification error", err)
	}
	if resp, err := http.Get("http://" + strings.TrimPrefix(s.Addr, "https://") + "/v1/sys/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200")
		}
	}

	// Stop clears the directory, so that it can serve another server.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range devTLSFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Stop: %v", name, err)
		}
	}
	again, err := StartTLS(ctx, binaryT(t), filepath.Join(t.TempDir(), "log"), dir)
	if err != nil {
		t.Fatalf("restart in the same cert dir: %v", err)
	}
	if err := again.Stop(); err != nil {
		t.Error(err)
	}
}

func TestStartTLSTempCertDir(t *testing.T) {
	bin := binaryT(t)
	s, err := StartTLS(context.Background(), bin, filepath.Join(t.TempDir(), "log"), "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(s.CACert)
	if _, err := s.API().Sys().HealthWithContext(context.Background()); err != nil {
		t.Error(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp cert dir %s left after Stop: %v", dir, err)
	}
}

// TestStartTLSBadCertDir: these fail before any process is started, so a
// fake binary is enough.
func TestStartTLSBadCertDir(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "vault-ca.pem"), []byte("stale"), 0o444); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, dir, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope"), "no such file"},
		{"a file", fake, "not a directory"},
		{"holds another server's CA", used, "already holds vault-ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := StartTLS(context.Background(), fake, filepath.Join(t.TempDir(), "log"), tt.dir)
			if err == nil {
				_ = s.Stop()
				t.Fatal("StartTLS succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(used, "vault-ca.pem")); err != nil || string(b) != "stale" {
		t.Errorf("the existing CA file was touched: %q, %v", b, err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s is not PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
