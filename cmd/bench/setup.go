package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// kvSecrets is how many KV v2 secrets are seeded (the kv20 scenario reads
// them all).
const kvSecrets = 20

// env is the seeded Vault (and PostgreSQL) every scenario runs against.
type env struct {
	vault   *vaulttest.Server
	root    *api.Client
	issuer  *vaulttest.JWTIssuer
	pg      *vaulttest.Postgres // nil without PostgreSQL
	pgNote  string              // why there is no database engine
	kvPaths []string            // secret/data/bench/sNN
}

// setup starts Vault with its log in dir, and PostgreSQL if installed,
// then seeds both. close stops what was started.
func setup(ctx context.Context, dir string) (*env, error) {
	bin, err := vaulttest.Binary()
	if err != nil {
		return nil, err
	}
	v, err := vaulttest.Start(ctx, bin, filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	e := &env{vault: v, root: v.API()}
	if err := e.seed(ctx); err != nil {
		e.close()
		return nil, err
	}
	e.pg, err = vaulttest.StartPostgres(ctx)
	switch {
	case errors.Is(err, vaulttest.ErrNoPostgres):
		e.pgNote = "skipped: " + err.Error()
	case err != nil:
		e.close()
		return nil, err
	default:
		if err := e.seedDatabase(ctx); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

func (e *env) close() {
	if e.pg != nil {
		e.pg.Stop()
	}
	e.vault.Stop()
}

// seed writes the KV secrets, a policy, a jwt role for every service
// account of the namespace "bench", and two PKI roles: one with leases,
// one without.
func (e *env) seed(ctx context.Context) error {
	for i := range kvSecrets {
		path := fmt.Sprintf("secret/data/bench/s%02d", i)
		if _, err := e.vault.Write(ctx, path, map[string]any{"data": map[string]any{
			"username": fmt.Sprintf("user-%02d", i), "password": randomHex(16),
		}}); err != nil {
			return err
		}
		e.kvPaths = append(e.kvPaths, path)
	}
	if err := e.vault.WritePolicy(ctx, benchRole, `
path "secret/data/bench/*" { capabilities = ["read"] }
path "pki/issue/bench" { capabilities = ["create", "update"] }
path "pki/issue/`+certRole+`" { capabilities = ["create", "update"] }
path "database/creds/bench" { capabilities = ["read"] }
`); err != nil {
		return err
	}
	var err error
	if e.issuer, err = vaulttest.NewJWTIssuer("https://kubernetes.default.svc.cluster.local"); err != nil {
		return err
	}
	if err := e.vault.ConfigureJWTAuth(ctx, "jwt", e.issuer); err != nil {
		return err
	}
	// One role for all service accounts of the namespace: a glob on sub.
	if err := e.vault.WriteJWTNamespaceRole(ctx, "jwt", benchRole, benchNamespace, time.Hour, benchRole); err != nil {
		return err
	}
	if err := e.checkRole(ctx); err != nil {
		return err
	}
	return e.seedPKI(ctx)
}

// checkRole proves the glob binds what it should and nothing else.
func (e *env) checkRole(ctx context.Context) error {
	for _, tc := range []struct {
		ns   string
		want bool
	}{{benchNamespace, true}, {"other", false}} {
		jwt, err := e.issuer.ServiceAccountToken(tc.ns, "sa-check", "check", "check-uid", "vault", time.Minute)
		if err != nil {
			return err
		}
		_, err = podAPIClient(ctx, e.vault.Addr, jwt)
		if (err == nil) != tc.want {
			return fmt.Errorf("jwt role %s: login from namespace %q: got error %v, want success %v", benchRole, tc.ns, err, tc.want)
		}
	}
	return nil
}

// certRole is the PKI role without generate_lease: Vault issues (and
// stores in pki/certs) a new certificate on every issue call.
const certRole = "bench-certs"

// seedPKI mounts a PKI engine with an EC root (fast issuance keeps the
// figures about the provider), a role whose certificates are leased and
// certRole, whose certificates are not.
func (e *env) seedPKI(ctx context.Context) error {
	if _, err := e.vault.MountPKI(ctx, "pki", "bench.test"); err != nil {
		return err
	}
	for role, leased := range map[string]bool{benchRole: true, certRole: false} {
		if err := e.vault.WritePKIRole(ctx, "pki", role, "bench.test", leased); err != nil {
			return err
		}
	}
	return nil
}

// seedDatabase points Vault's database engine at the throwaway cluster
// with a role that creates a login role per lease.
func (e *env) seedDatabase(ctx context.Context) error {
	return e.vault.ConfigureDatabase(ctx, "database", benchRole, benchRole, e.pg)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
