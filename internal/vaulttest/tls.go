package vaulttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// devTLSFiles are what `vault server -dev-tls` writes into its cert dir:
// the CA first, then the server's certificate and key. The server
// certificate names localhost, localhost4, localhost6,
// localhost.localdomain, the machine's hostname and IP 127.0.0.1.
var devTLSFiles = []string{"vault-ca.pem", "vault-cert.pem", "vault-key.pem"}

// StartTLS is Start with `-dev-tls`: the server listens with https and a
// certificate from a CA it generates into certDir, an existing directory
// that must not already hold another server's files (a new temp directory,
// removed by Stop, when empty). Server.CACert is that CA's PEM file, which
// the readiness check and API trust.
func StartTLS(ctx context.Context, bin, logPath, certDir string) (*Server, error) {
	tempDir := ""
	if certDir == "" {
		dir, err := os.MkdirTemp("", "vault-tls-*")
		if err != nil {
			return nil, fmt.Errorf("vaulttest: cert dir: %w", err)
		}
		certDir, tempDir = dir, dir
	}
	s, err := startRetry(ctx, bin, logPath, certDir)
	if err != nil {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, err
	}
	s.tempDir = tempDir
	return s, nil
}

// StartTLST is StartT with TLS, its files in the test's temp dirs.
func StartTLST(t testing.TB) *Server {
	t.Helper()
	bin := binaryT(t)
	s, err := StartTLS(context.Background(), bin, filepath.Join(t.TempDir(), "vault.log"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping vault: %v", err)
		}
	})
	return s
}

// checkCertDir refuses files left by another server: Vault would
// overwrite them, or fail to if they are read-only, and a stale CA could
// pass for ours until the new one is written.
func checkCertDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("vaulttest: cert dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("vaulttest: cert dir %s is not a directory", dir)
	}
	for _, name := range devTLSFiles {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("vaulttest: cert dir %s already holds %s (another server's, or stat failed: %v)", dir, name, err)
		}
	}
	return nil
}

// removeTLSFiles deletes the files our server wrote (checkCertDir made
// sure none were there before it started) and the temp dir StartTLS made.
func (s *Server) removeTLSFiles() error {
	if s.certDir == "" {
		return nil
	}
	var errs []error
	for _, name := range devTLSFiles {
		if err := os.Remove(filepath.Join(s.certDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	return errors.Join(errs...)
}

// healthClient returns the client for readiness probes, or nil while the
// CA file is not fully written. With TLS it trusts only the CA our process
// just generated, so a verified answer also proves the server is ours.
func (s *Server) healthClient() *http.Client {
	if s.CACert == "" {
		return &http.Client{Timeout: 2 * time.Second}
	}
	pem, err := os.ReadFile(s.CACert)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 2 * time.Second, Transport: tr}
}
