package vaulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
)

// startedBanner is printed by `vault server -dev` only after its own
// listener is up. Requiring it in our log, not just a healthy answer on the
// port, proves the answer came from our process and not from another
// server that grabbed the port.
var startedBanner = []byte("Vault server started")

// waitReady polls /v1/sys/health until our server answers, then confirms
// the version, the PID and the root token. With TLS, polling starts once
// the server has written its CA.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var hc *http.Client
	defer func() {
		if hc != nil {
			hc.CloseIdleConnections()
		}
	}()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("vaulttest: vault pid %d exited during start: %v", s.PID, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("vaulttest: vault pid %d not healthy at %s: %w", s.PID, s.Addr, ctx.Err())
		case <-tick.C:
		}
		if hc == nil {
			if hc = s.healthClient(); hc == nil {
				continue
			}
		}
		version, ok := s.health(ctx, hc)
		if !ok || !s.logContains(startedBanner) {
			continue
		}
		if version != Version {
			return fmt.Errorf("vaulttest: server at %s reports version %q, want %s", s.Addr, version, Version)
		}
		if !s.Alive() {
			return fmt.Errorf("vaulttest: vault pid %d exited during start: %v", s.PID, s.waitErr)
		}
		client, err := newRootClient(s.Addr, s.RootToken, s.CACert)
		if err != nil {
			return err
		}
		if _, err := client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
			return fmt.Errorf("vaulttest: root token rejected by %s: %w", s.Addr, err)
		}
		s.Admin = &Admin{client: client}
		return nil
	}
}

// health returns the version reported by an initialised, unsealed, active
// server, and false while it is not ready.
func (s *Server) health(ctx context.Context, hc *http.Client) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Addr+"/v1/sys/health", nil)
	if err != nil {
		return "", false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false
	}
	var h struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", false
	}
	return h.Version, true
}

func (s *Server) logContains(b []byte) bool {
	log, err := os.ReadFile(s.LogPath)
	return err == nil && bytes.Contains(log, b)
}

// newRootClient builds an api client that ignores VAULT_* settings of the
// environment that could redirect or alter its requests, and trusts caCert
// (if set) alone.
func newRootClient(addr, token, caCert string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vaulttest: api config: %w", cfg.Error)
	}
	cfg.Address = addr
	cfg.AgentAddress = ""
	cfg.Limiter = nil
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		// Undo VAULT_CACERT, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME and
		// VAULT_CLIENT_CERT; the tls.Config is kept for its h2 setting.
		tc := tr.TLSClientConfig
		tc.RootCAs, tc.InsecureSkipVerify, tc.ServerName = nil, false, ""
		tc.Certificates, tc.GetClientCertificate = nil, nil
	}
	if caCert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caCert}); err != nil {
			return nil, fmt.Errorf("vaulttest: trusting %s: %w", caCert, err)
		}
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: api client: %w", err)
	}
	client.SetToken(token)
	client.ClearNamespace()
	client.SetWrappingLookupFunc(func(string, string) string { return "" })
	return client, nil
}
