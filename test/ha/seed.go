package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// What the cluster is seeded with, and the class the pods mount.
const (
	namespace = "ha"
	role      = "ha"
	kvPath    = "secret/data/ha/app"
	domain    = "ha.test"
	objects   = `- objectName: kv
  secretPath: ` + kvPath + `
  secretKey: value
- objectName: tls.crt
  secretPath: pki/issue/` + role + `
  method: PUT
  secretArgs: {common_name: app.` + domain + `}
  secretKey: certificate
- objectName: tls.key
  secretPath: pki/issue/` + role + `
  method: PUT
  secretArgs: {common_name: app.` + domain + `}
  secretKey: private_key
- objectName: db/username
  secretPath: database/creds/` + role + `
  secretKey: username
- objectName: db/password
  secretPath: database/creds/` + role + `
  secretKey: password
`
)

// seeded is what the checks of a mount compare with.
type seeded struct {
	issuer  *vaulttest.JWTIssuer
	kvValue string
	roots   *x509.CertPool // the PKI root
	pg      *vaulttest.Postgres
}

// seed configures the cluster through its active node with the root token:
// KV v2, PKI, the database engine on a new PostgreSQL, and jwt auth for
// every service account of the namespace. The caller stops s.pg.
func seed(ctx context.Context, a *vaulttest.Admin) (s *seeded, err error) {
	s = &seeded{kvValue: rand.Text()}
	if err := a.Mount(ctx, "secret", "kv", map[string]string{"version": "2"}); err != nil {
		return nil, err
	}
	// A new KV v2 mount refuses writes until it has set itself up.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var writeErr error
	if err := csitest.WaitFor(wctx, 100*time.Millisecond, func() (bool, error) {
		_, writeErr = a.Write(ctx, kvPath, map[string]any{"data": map[string]any{"value": s.kvValue}})
		return writeErr == nil, nil
	}); err != nil {
		return nil, errors.Join(err, writeErr)
	}
	ca, err := a.MountPKI(ctx, "pki", domain)
	if err != nil {
		return nil, err
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM([]byte(ca)) {
		return nil, errors.New("the PKI root certificate does not parse")
	}
	if err := a.WritePKIRole(ctx, "pki", role, domain, false); err != nil {
		return nil, err
	}
	if s.pg, err = vaulttest.StartPostgres(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.pg.Stop()
		}
	}()
	if err := a.ConfigureDatabase(ctx, "database", role, role, s.pg); err != nil {
		return nil, err
	}
	if err := a.WritePolicy(ctx, role, fmt.Sprintf(`
path %q { capabilities = ["read"] }
path "pki/issue/%s" { capabilities = ["create", "update"] }
path "database/creds/%[2]s" { capabilities = ["read"] }
`, kvPath, role)); err != nil {
		return nil, err
	}
	if s.issuer, err = vaulttest.NewJWTIssuer("https://kubernetes.default.svc.cluster.local"); err != nil {
		return nil, err
	}
	if err := a.ConfigureJWTAuth(ctx, "jwt", s.issuer); err != nil {
		return nil, err
	}
	if err := a.WriteJWTNamespaceRole(ctx, "jwt", role, namespace, time.Hour, role); err != nil {
		return nil, err
	}
	return s, nil
}
