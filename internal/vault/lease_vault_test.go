package vault

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// metricsClient is a client for cfg whose calls are recorded in m.
func metricsClient(t *testing.T, cfg Config) (*Client, *metrics.Metrics) {
	t.Helper()
	m := metrics.NewUnregistered()
	clients, err := NewClients(4, fastRetry, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	c, err := clients.Get(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

func requests(m *metrics.Metrics, op, status string) float64 {
	return testutil.ToFloat64(m.VaultRequests.WithLabelValues(op, status))
}

// createToken makes a token with the root token; policies get "default"
// added by Vault.
func createToken(t *testing.T, s *vaulttest.Server, policies ...string) string {
	t.Helper()
	secret, err := s.API().Auth().Token().CreateWithContext(testContext(t), &api.TokenCreateRequest{Policies: policies, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	return secret.Auth.ClientToken
}

func checkStatus(t *testing.T, err error, want int) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no Vault response", err)
	}
	if re.StatusCode != want {
		t.Errorf("HTTP status = %d, want %d (%v)", re.StatusCode, want, err)
	}
}

func TestRevokeSelf(t *testing.T) {
	s := vaulttest.StartT(t)
	c, m := metricsClient(t, Config{Address: s.Addr})
	ctx := testContext(t)
	token := createToken(t, s, "default")
	lookupSelf := Request{Method: http.MethodGet, Path: "auth/token/lookup-self"}

	if _, err := c.Read(ctx, token, lookupSelf); err != nil {
		t.Fatalf("lookup-self before revoking: %v", err)
	}
	if err := c.RevokeSelf(ctx, token); err != nil {
		t.Fatalf("RevokeSelf: %v", err)
	}
	if got := requests(m, "revoke", "204"); got != 1 {
		t.Errorf(`vault_requests_total{operation="revoke",status="204"} = %v, want 1`, got)
	}

	_, err := c.Read(ctx, token, lookupSelf)
	checkSentinel(t, err, ErrPermissionDenied)
	checkStatus(t, err, http.StatusForbidden)

	// Revoked already: Vault denies the token itself.
	err = c.RevokeSelf(ctx, token)
	checkSentinel(t, err, ErrPermissionDenied)
	checkStatus(t, err, http.StatusForbidden)
	if !strings.Contains(err.Error(), "POST auth/token/revoke-self: HTTP 403") {
		t.Errorf("error %q does not name the call and status", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error contains the token: %q", err)
	}
	if got := requests(m, "revoke", "403"); got != 1 {
		t.Errorf(`vault_requests_total{operation="revoke",status="403"} = %v, want 1`, got)
	}
}

// pkiLeaseServer is a dev server whose PKI role "leased" issues
// certificates with a lease, and a token allowed to issue them.
func pkiLeaseServer(t *testing.T) (s *vaulttest.Server, token string) {
	t.Helper()
	s = vaulttest.StartT(t)
	ctx := testContext(t)
	if err := s.Mount(ctx, "pki", "pki", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "pki/root/generate/internal", map[string]any{"common_name": "example.test", "ttl": "24h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "pki/roles/leased", map[string]any{
		"allowed_domains": "example.test", "allow_subdomains": true,
		"generate_lease": true, "ttl": "10m", "max_ttl": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePolicy(ctx, "issuer", `path "pki/issue/leased" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	return s, createToken(t, s, "issuer")
}

// leaseLookup asks Vault, as root, about leaseID.
func leaseLookup(ctx context.Context, s *vaulttest.Server, leaseID string) (*api.Secret, error) {
	return s.API().Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": leaseID})
}

func TestLeasedCertificate(t *testing.T) {
	s, token := pkiLeaseServer(t)
	c, m := metricsClient(t, Config{Address: s.Addr})
	ctx := testContext(t)

	cert, err := c.Read(ctx, token, Request{
		Method: http.MethodPut, Path: "pki/issue/leased",
		Body: map[string]any{"common_name": "app.example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The lease runs to the certificate's NotAfter, so it can be a second
	// short of the role's 10m.
	if !strings.HasPrefix(cert.LeaseID, "pki/issue/leased/") || cert.LeaseDuration < 590 || cert.LeaseDuration > 600 || cert.Renewable {
		t.Fatalf("certificate lease = %q, %ds, renewable %t; want a ~600s non-renewable lease under pki/issue/leased/",
			cert.LeaseID, cert.LeaseDuration, cert.Renewable)
	}
	found, err := leaseLookup(ctx, s, cert.LeaseID)
	if err != nil {
		t.Fatalf("looking the lease up before revoking: %v", err)
	}
	if found.Data["id"] != cert.LeaseID || found.Data["renewable"] != false {
		t.Errorf("lease lookup = %v", found.Data)
	}

	t.Run("renewing a PKI lease is refused", func(t *testing.T) {
		_, err := c.RenewLease(ctx, token, cert.LeaseID, 10*time.Minute)
		t.Logf("error: %v", err)
		checkSentinel(t, err, ErrBadRequest)
		checkStatus(t, err, http.StatusBadRequest)
		for _, want := range []string{"PUT sys/leases/renew: HTTP 400", "lease is not renewable"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q should contain %q", err, want)
			}
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error contains the token: %q", err)
		}
		// Counted once, as a renewal: a 400 is not retried.
		if got := requests(m, "renew", "400"); got != 1 {
			t.Errorf(`vault_requests_total{operation="renew",status="400"} = %v, want 1`, got)
		}
	})

	t.Run("revoking the token revokes the lease", func(t *testing.T) {
		if err := c.RevokeSelf(ctx, token); err != nil {
			t.Fatal(err)
		}
		if got := requests(m, "revoke", "204"); got != 1 {
			t.Errorf(`vault_requests_total{operation="revoke",status="204"} = %v, want 1`, got)
		}
		// Vault revokes a token's leases in the background: wait for it.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := leaseLookup(ctx, s, cert.LeaseID)
			if err != nil {
				var re *api.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid lease") {
					t.Fatalf("lease lookup after revoking: %v, want HTTP 400 invalid lease", err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the certificate's lease still exists 20s after its token was revoked")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// And the revoked token can renew nothing.
		_, err := c.RenewLease(ctx, token, cert.LeaseID, time.Minute)
		checkSentinel(t, err, ErrPermissionDenied)
	})
}

// TestRenewLeaseRequest covers the renewal Vault grants, which no engine
// of a bare dev server offers (PKI leases are not renewable).
func TestRenewLeaseRequest(t *testing.T) {
	rec, srv := fakeVault(t, status(200, `{"request_id":"1","lease_id":"database/creds/app/abc","lease_duration":1800,"renewable":true,"data":null}`))
	c, m := metricsClient(t, Config{Address: srv.URL})

	got, err := c.RenewLease(testContext(t), testToken, "database/creds/app/abc", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Renewal{TTL: 30 * time.Minute, Renewable: true}); got != want {
		t.Errorf("RenewLease = %+v, want %+v", got, want)
	}
	req, body := rec.last(t)
	if req.Method != http.MethodPut || req.URL.Path != "/v1/sys/leases/renew" || req.Header.Get("X-Vault-Token") != testToken {
		t.Errorf("request = %s %s (token %q)", req.Method, req.URL.Path, req.Header.Get("X-Vault-Token"))
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(body), &sent); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if sent["lease_id"] != "database/creds/app/abc" || sent["increment"] != float64(3600) || len(sent) != 2 {
		t.Errorf("body = %v, want lease_id and increment 3600", sent)
	}
	if got := requests(m, "renew", "200"); got != 1 {
		t.Errorf(`vault_requests_total{operation="renew",status="200"} = %v, want 1`, got)
	}
	if got := requests(m, "read", "200"); got != 0 {
		t.Errorf("the renewal was counted as a read")
	}
}
