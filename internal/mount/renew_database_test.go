package mount_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// The database role's TTLs. Vault counts whole seconds from the lease's
// issue: the first renewal, 3/4 into the 6s, is granted 8-4 or 8-5 seconds,
// at least the third of 6s the provider requires, so the credentials are
// kept; the second, 3/4 into that grant, gets 1s (or is refused at
// max_ttl), less than a third, so the provider reads new credentials.
const (
	dbRole   = "renew"
	dbTTL    = 6 * time.Second
	dbMaxTTL = 8 * time.Second
	dbCreds  = "database/creds/" + dbRole
)

const dbObjects = `
- {objectName: username, secretPath: ` + dbCreds + `, secretKey: username}
- {objectName: password, secretPath: ` + dbCreds + `, secretKey: password}`

// TestDatabaseLeaseRenewal renews real database credentials: Vault's
// postgresql-database-plugin against a throwaway PostgreSQL cluster.
func TestDatabaseLeaseRenewal(t *testing.T) {
	v := vaulttest.StartT(t)
	pg := vaulttest.StartPostgresT(t)
	issuer := setupDatabase(t, v, pg)
	svc, m := newLeaseService(t, v)
	counter := func(event string) float64 { return testutil.ToFloat64(m.Leases.WithLabelValues(event)) }
	renewCalls := func(status string) float64 {
		return testutil.ToFloat64(m.VaultRequests.WithLabelValues("renew", status))
	}
	req := dbMountRequest(t, issuer)

	first := mountUsername(t, svc, req)
	obtained := time.Now()
	ids := leaseIDs(t, v)
	if len(ids) != 1 {
		t.Fatalf("Vault holds leases %v after the first mount, want 1", ids)
	}
	leaseID := ids[0]
	validUntil0 := roleValidUntil(t, pg, first)

	// Before 2/3 of the TTL: the same credentials, no new lease.
	if got := mountUsername(t, svc, req); got != first {
		t.Errorf("a mount before 2/3 of the TTL returned user %q, want the kept %q", got, first)
	}
	if ids := leaseIDs(t, v); !slices.Equal(ids, []string{leaseID}) {
		t.Errorf("Vault holds leases %v after a reuse, want [%s]", ids, leaseID)
	}
	for event, want := range map[string]float64{"created": 1, "reused": 1} {
		if got := counter(event); got != want {
			t.Errorf("%s = %v, want %v", event, got, want)
		}
	}

	// Past 2/3: the provider renews the lease and keeps the credentials.
	before := lookupLease(t, v, leaseID)
	if before.LastRenewal != nil {
		t.Fatalf("lease %s renewed before the provider renewed it: %+v", leaseID, before)
	}
	time.Sleep(time.Until(obtained.Add(dbTTL * 3 / 4)))
	if got := mountUsername(t, svc, req); got != first {
		t.Errorf("a mount after 2/3 of the TTL returned user %q, want the renewed %q", got, first)
	}
	renewed := time.Now()
	after := lookupLease(t, v, leaseID)
	if after.LastRenewal == nil {
		t.Fatalf("Vault's lease %s has no last_renewal after the mount: it was not renewed", leaseID)
	}
	if !after.ExpireTime.After(before.ExpireTime) {
		t.Errorf("Vault's lease expires at %s after the renewal, want after %s", after.ExpireTime, before.ExpireTime)
	}
	if ids := leaseIDs(t, v); !slices.Equal(ids, []string{leaseID}) {
		t.Errorf("Vault holds leases %v after the renewal, want [%s]", ids, leaseID)
	}
	if got := counter("renewed"); got != 1 {
		t.Errorf("renewed = %v, want 1", got)
	}
	if got := renewCalls("200"); got != 1 {
		t.Errorf(`vault_requests_total{operation="renew",status="200"} = %v, want 1`, got)
	}
	// The renewal reached PostgreSQL: the role's VALID UNTIL moved.
	if got := roleValidUntil(t, pg, first); !got.After(validUntil0) {
		t.Errorf("PostgreSQL role %s VALID UNTIL %s after the renewal, want after %s", first, got, validUntil0)
	}

	// Past 2/3 of the renewal's grant, max_ttl leaves less than a third of
	// the original 6s: the provider tries to renew, then reads anew.
	grant := after.ExpireTime.Sub(*after.LastRenewal).Round(time.Second)
	time.Sleep(time.Until(renewed.Add(grant * 3 / 4)))
	second := mountUsername(t, svc, req)
	if second == first {
		t.Errorf("a mount after the last useful renewal returned the old user %q, want new credentials", first)
	}
	if ids := leaseIDs(t, v); !slices.ContainsFunc(ids, func(id string) bool { return id != leaseID }) {
		t.Errorf("Vault holds leases %v, want a new one besides %s", ids, leaseID)
	}
	if got := renewCalls("200") + renewCalls("400"); got != 2 {
		t.Errorf("renewal calls (granted or refused at max_ttl) = %v, want 2", got)
	}
	for event, want := range map[string]float64{"renewed": 1, "expired": 1, "created": 2} {
		if got := counter(event); got != want {
			t.Errorf("%s = %v, want %v", event, got, want)
		}
	}
	roleValidUntil(t, pg, second) // the new user exists in PostgreSQL
}

// setupDatabase points Vault's database engine at pg with the role dbRole,
// and lets the test pod read its credentials with the jwt role "db".
func setupDatabase(t *testing.T, v *vaulttest.Server, pg *vaulttest.Postgres) *vaulttest.JWTIssuer {
	t.Helper()
	issuer := setupVault(t, v)
	configureDatabase(t, v, pg, dbTTL, dbMaxTTL)
	must(t, v.WritePolicy(context.Background(), "db", `path "`+dbCreds+`" { capabilities = ["read"] }`))
	must(t, v.WriteJWTRole(context.Background(), "jwt", "db", podNamespace, podSA, time.Hour, "db"))
	return issuer
}

// configureDatabase mounts Vault's database engine on pg with the role
// dbRole, whose credentials last ttl (at most maxTTL).
func configureDatabase(t *testing.T, v *vaulttest.Server, pg *vaulttest.Postgres, ttl, maxTTL time.Duration) {
	t.Helper()
	must(t, v.Mount(context.Background(), "database", "database", nil))
	write(t, v, "database/config/pg", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": pg.ConnectionURL(),
		"username":       "postgres",
		"password":       "trust-auth-ignores-this",
		"allowed_roles":  []string{dbRole},
	})
	write(t, v, "database/roles/"+dbRole, map[string]any{
		"db_name":             "pg",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
		"default_ttl":         ttl.String(),
		"max_ttl":             maxTTL.String(),
	})
}

// newLeaseService is the provider with lease reuse and metrics m, called
// directly: the socket adds nothing to what is renewed.
func newLeaseService(t *testing.T, v *vaulttest.Server) (*mount.Service, *metrics.Metrics) {
	t.Helper()
	m := metrics.NewUnregistered()
	clients, err := vault.NewClients(10, vault.RetryPolicy{MaxRetries: 2, MinWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond}, vault.WithMetrics(m))
	must(t, err)
	authn, err := auth.NewAuthenticator(100, auth.NewTokenRequester(nil, 10*time.Minute, auth.AudiencePolicy{Allowed: []string{"vault"}}), m)
	must(t, err)
	keys, err := hmackey.Ephemeral()
	must(t, err)
	svc, err := mount.NewService(mount.Options{
		Defaults: spc.Defaults{Vault: vault.Config{Address: v.Addr}, AuthMount: "jwt", Audience: "vault"},
		Clients:  clients,
		Auth:     authn,
		Keys:     keys,
		Version:  "test",
		Leases:   lease.New(lease.Options{Metrics: m}),
		Metrics:  m,
	})
	must(t, err)
	return svc, m
}

// dbMountRequest is the driver's request for dbObjects, logging in as the
// test pod with the jwt role "db".
func dbMountRequest(t *testing.T, issuer *vaulttest.JWTIssuer) *pb.MountRequest {
	t.Helper()
	tok, err := issuer.ServiceAccountToken(podNamespace, podSA, podName, podUID, "vault", time.Hour)
	must(t, err)
	req, err := csitest.Request{
		Pod:        csitest.Pod{Name: podName, Namespace: podNamespace, UID: podUID, ServiceAccount: podSA},
		Params:     map[string]string{spc.KeyRoleName: "db", spc.KeyObjects: dbObjects},
		Tokens:     map[string]csitest.Token{"vault": {Token: tok, Expiration: time.Now().Add(time.Hour)}},
		TargetPath: t.TempDir(),
	}.Build()
	must(t, err)
	return req
}

// mountUsername mounts req and returns the database user it delivered.
func mountUsername(t *testing.T, svc *mount.Service, req *pb.MountRequest) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := svc.Mount(ctx, req)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	f := files(resp)
	if f["username"].Content == "" || f["password"].Content == "" {
		t.Fatalf("mount returned files %v, want a username and a password", resp.GetFiles())
	}
	return f["username"].Content
}

// leaseIDs lists the leases Vault holds for dbCreds.
func leaseIDs(t *testing.T, v *vaulttest.Server) []string {
	t.Helper()
	s, err := v.API().Logical().ListWithContext(context.Background(), "sys/leases/lookup/"+dbCreds+"/")
	must(t, err)
	var ids []string
	if s != nil {
		keys, _ := s.Data["keys"].([]any)
		for _, k := range keys {
			ids = append(ids, dbCreds+"/"+k.(string))
		}
	}
	return ids
}

// leaseTimes is what sys/leases/lookup reports of a lease.
type leaseTimes struct {
	ExpireTime  time.Time  `json:"expire_time"`
	LastRenewal *time.Time `json:"last_renewal"`
}

func lookupLease(t *testing.T, v *vaulttest.Server, id string) leaseTimes {
	t.Helper()
	s, err := v.Write(context.Background(), "sys/leases/lookup", map[string]any{"lease_id": id})
	must(t, err)
	b, err := json.Marshal(s.Data)
	must(t, err)
	var lt leaseTimes
	must(t, json.Unmarshal(b, &lt))
	return lt
}

// roleValidUntil reads the VALID UNTIL of PostgreSQL role name; a missing
// role fails the test.
func roleValidUntil(t *testing.T, pg *vaulttest.Postgres, name string) time.Time {
	t.Helper()
	out, err := pg.Query(context.Background(),
		"SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = '"+strings.ReplaceAll(name, "'", "''")+"'")
	must(t, err)
	if out == "" {
		t.Fatalf("PostgreSQL has no role %q", name)
	}
	secs, err := strconv.ParseFloat(out, 64)
	if err != nil {
		t.Fatalf("VALID UNTIL of %s: %q: %v", name, out, err)
	}
	return time.Unix(0, int64(secs*float64(time.Second)))
}
