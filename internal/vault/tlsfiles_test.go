package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestClassTLSFiles: files named by a class must resolve into an allowed
// directory and be regular PEM files within the limits; every refusal reads
// the same. The operator's own files are allowed anywhere. Before, the api
// client read any path whole: /dev/zero grew the provider without bound.
func TestClassTLSFiles(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	ca := newTestCA(t)
	caFile := writeFile(t, allowed, "ca.pem", ca.pem)
	certPath, keyPath := ca.issueClient(t, allowed)
	outsideCA := writeFile(t, outside, "ca.pem", ca.pem)
	operatorCA := writeFile(t, outside, "operator-ca.pem", ca.pem)
	notPEM := writeFile(t, allowed, "not.pem", "hello")
	big := writeFile(t, allowed, "big.pem", ca.pem+strings.Repeat("#", maxTLSFileBytes))
	fifo := filepath.Join(allowed, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(allowed, "escape.pem")
	if err := os.Symlink(outsideCA, escape); err != nil {
		t.Fatal(err)
	}
	into := filepath.Join(outside, "into.pem")
	if err := os.Symlink(caFile, into); err != nil {
		t.Fatal(err)
	}
	// A CA directory shaped like a Kubernetes volume: ca.crt -> ..data/ca.crt,
	// ..data -> ..2026_12_02/.
	caDir := filepath.Join(allowed, "cas")
	for _, err := range []error{
		os.MkdirAll(filepath.Join(caDir, "..2026_12_02"), 0o700),
		os.WriteFile(filepath.Join(caDir, "..2026_12_02", "ca.crt"), []byte(ca.pem), 0o600),
		os.Symlink("..2026_12_02", filepath.Join(caDir, "..data")),
		os.Symlink("..data/ca.crt", filepath.Join(caDir, "ca.crt")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	crowded := filepath.Join(allowed, "crowded")
	if err := os.Mkdir(crowded, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range maxCADirEntries {
		writeFile(t, crowded, fmt.Sprintf("ca%04d.pem", i), ca.pem)
	}

	const addr = "https://vault:8200"
	tests := []struct {
		name    string
		cfg     Config
		refused bool
	}{
		{name: "CA file in an allowed directory", cfg: Config{Address: addr, CACert: caFile}},
		{name: "symlink from outside into an allowed directory", cfg: Config{Address: addr, CACert: into}},
		{name: "CA directory shaped like a Kubernetes volume", cfg: Config{Address: addr, CADirectory: caDir}},
		{name: "client certificate and key", cfg: Config{Address: addr, ClientCert: certPath, ClientKey: keyPath}},
		{name: "operator's file outside the allowed directories", cfg: Config{Address: addr, CACert: operatorCA}},
		{name: "/dev/zero", cfg: Config{Address: addr, CACert: "/dev/zero"}, refused: true},
		{name: "FIFO", cfg: Config{Address: addr, CACert: fifo}, refused: true},
		{name: "file outside", cfg: Config{Address: addr, CACert: outsideCA}, refused: true},
		{name: "symlink out of an allowed directory", cfg: Config{Address: addr, CACert: escape}, refused: true},
		{name: "missing file", cfg: Config{Address: addr, CACert: filepath.Join(allowed, "missing.pem")}, refused: true},
		{name: "not PEM", cfg: Config{Address: addr, CACert: notPEM}, refused: true},
		{name: "too large", cfg: Config{Address: addr, CACert: big}, refused: true},
		{name: "CA directory outside", cfg: Config{Address: addr, CADirectory: outside}, refused: true},
		{name: "CA directory with too many entries", cfg: Config{Address: addr, CADirectory: crowded}, refused: true},
		{name: "/dev as a CA directory", cfg: Config{Address: addr, CADirectory: "/dev"}, refused: true},
		{name: "client key is /dev/zero", cfg: Config{Address: addr, ClientCert: certPath, ClientKey: "/dev/zero"}, refused: true},
		{name: "client key is not the certificate's", cfg: Config{Address: addr, ClientCert: certPath, ClientKey: caFile}, refused: true},
	}
	clients, err := NewClients(4, fastRetry, WithTLSFiles([]string{operatorCA}, []string{allowed}))
	if err != nil {
		t.Fatal(err)
	}
	var refusal string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clients.Get(testContext(t), tt.cfg)
			if !tt.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkSentinel(t, err, ErrConfig)
			// The same text whatever the reason, once the path is taken out.
			msg := err.Error()
			for _, p := range []string{tt.cfg.CACert, tt.cfg.CADirectory, tt.cfg.ClientCert, tt.cfg.ClientKey} {
				if p != "" {
					msg = strings.ReplaceAll(msg, p, "PATH")
				}
			}
			msg = strings.NewReplacer("CA certificate file", "FILE", "CA directory", "FILE",
				"client key file", "FILE").Replace(msg)
			if refusal == "" {
				refusal = msg
			}
			if msg != refusal {
				t.Errorf("refusal %q differs from %q", msg, refusal)
			}
			if !strings.Contains(msg, "-allowed-tls-dirs") {
				t.Errorf("refusal %q should name the flag", msg)
			}
		})
	}
}

// TestOperatorTLSFileBounds: the operator's own files are checked too (no
// device, bounded size) but refusals keep their reason.
func TestOperatorTLSFileBounds(t *testing.T) {
	clients, err := NewClients(4, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clients.Get(context.Background(), Config{Address: "https://vault:8200", CACert: "/dev/zero"})
	checkSentinel(t, err, ErrConfig)
	if !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("error %q should give the reason", err)
	}
}
