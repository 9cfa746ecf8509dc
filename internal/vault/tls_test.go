package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(status(200, okSecret)))
	t.Cleanup(srv.Close)
	srv.Config.ErrorLog = discardLog() // failed handshakes are expected here
	u, _ := url.Parse(srv.URL)
	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	caDir := filepath.Join(dir, "cas")
	if err := os.Mkdir(caDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, caDir, "vault-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	wrongCA := writeFile(t, dir, "wrong.pem", selfSignedPEM(t))
	// The httptest certificate is valid for 127.0.0.1 and example.com but
	// not for "localhost", which makes TLSServerName observable.
	byName := "https://localhost:" + u.Port()

	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{name: "CA file", cfg: Config{Address: srv.URL, CACert: caFile}},
		{name: "CA directory", cfg: Config{Address: srv.URL, CADirectory: caDir}},
		{name: "wrong CA", cfg: Config{Address: srv.URL, CACert: wrongCA}, wantErr: ErrConfig},
		{name: "no CA", cfg: Config{Address: srv.URL}, wantErr: ErrConfig},
		{name: "skip verify", cfg: Config{Address: srv.URL, SkipVerify: true}},
		{name: "host not in certificate", cfg: Config{Address: byName, CACert: caFile}, wantErr: ErrConfig},
		{name: "TLSServerName in certificate", cfg: Config{Address: byName, CACert: caFile, TLSServerName: "example.com"}},
		{name: "TLSServerName not in certificate", cfg: Config{Address: srv.URL, CACert: caFile, TLSServerName: "wrong.test"}, wantErr: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClient(t, tt.cfg, fastRetry)
			_, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkSentinel(t, err, tt.wantErr)
			if !strings.Contains(err.Error(), "TLS verification failed") {
				t.Errorf("error %q should explain the TLS failure", err)
			}
		})
	}
}

func TestClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(status(200, okSecret)))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	certPath, keyPath := ca.issueClient(t, t.TempDir())

	c := testClient(t, Config{Address: srv.URL, SkipVerify: true, ClientCert: certPath, ClientKey: keyPath}, fastRetry)
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"}); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	c = testClient(t, Config{Address: srv.URL, SkipVerify: true}, RetryPolicy{})
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"}); err == nil {
		t.Fatal("without a client certificate: no error")
	}
}

// TestConfigErrors checks that Clients.Get names the setting at fault.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "not.pem", "hello")
	ca := newTestCA(t)
	certPath, _ := ca.issueClient(t, dir)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name    string
		cfg     Config
		wantMsg string
	}{
		{name: "empty address", cfg: Config{}, wantMsg: "Address is empty"},
		{name: "bad scheme", cfg: Config{Address: "ftp://vault:8200"}, wantMsg: "must start with http://, https:// or unix://"},
		{name: "no host", cfg: Config{Address: "https://"}, wantMsg: "has no host"},
		{name: "no socket path", cfg: Config{Address: "unix://"}, wantMsg: "names no socket"},
		{name: "not a URL", cfg: Config{Address: "http://[::1"}, wantMsg: "is not a valid URL"},
		{name: "unreadable CA file", cfg: Config{Address: "https://vault:8200", CACert: missing}, wantMsg: `CA certificate file "` + missing + `": open ` + missing},
		{name: "CA file without PEM", cfg: Config{Address: "https://vault:8200", CACert: notPEM}, wantMsg: "contains no PEM certificate"},
		{name: "missing CA directory", cfg: Config{Address: "https://vault:8200", CADirectory: filepath.Join(dir, "nope")}, wantMsg: "CA directory"},
		{name: "CA directory is a file", cfg: Config{Address: "https://vault:8200", CADirectory: notPEM}, wantMsg: "not a directory"},
		{name: "client cert without key", cfg: Config{Address: "https://vault:8200", ClientCert: certPath}, wantMsg: "ClientCert and ClientKey must be set together"},
		{name: "unreadable client key", cfg: Config{Address: "https://vault:8200", ClientCert: certPath, ClientKey: missing}, wantMsg: `client key file "` + missing + `": open ` + missing},
		{name: "mismatched client key", cfg: Config{Address: "https://vault:8200", ClientCert: certPath, ClientKey: notPEM}, wantMsg: "client key file"},
	}
	clients, err := NewClients(4, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := clients.Get(context.Background(), tt.cfg)
			if c != nil {
				t.Errorf("Get returned a client with error %v", err)
			}
			checkSentinel(t, err, ErrConfig)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q should contain %q", err, tt.wantMsg)
			}
		})
	}
}

// TestCheckAddress: the one check of -vault-addr, vaultAddress and Config
// accepts what the client can dial and nothing else.
func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" = accepted
	}{
		{"https://vault.vault.svc:8200", ""},
		{"HTTP://127.0.0.1:8200", ""},
		{"unix:///run/vault/agent.sock", ""},
		{"unix://agent.sock", ""},
		{"unix://", "names no socket"},
		{"UNIX:///run/agent.sock", "in lower case"},
		{"https://", "has no host"},
		{"vault:8200", "must start with"},
		{"ftp://vault", "must start with"},
		{"http://[::1", "is not a valid URL"},
		{"http://10.0.0.1:8200,http://10.0.0.2:8200, https://vault-2:8200", ""},
		{"http://a:8200,", "empty address at position 2"},
		{"http://a:8200,unix:///agent.sock", "Vault Agent socket cannot be one of several"},
		{"http://a:8200,http://a:8200", "twice"},
		{"http://a:8200,vault:8200", `lists "vault:8200", which must start with`},
		{strings.Repeat("http://a:8200,", 9) + "http://b", "lists 10 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAddress(tt.addr)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
