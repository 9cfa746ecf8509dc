package vaulttest

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
)

// Admin configures a Vault with a privileged token: the root client of a
// dev server (Server embeds one), or of a cluster the caller initialised.
type Admin struct{ client *api.Client }

// NewAdmin returns an Admin for the plain-HTTP Vault at addr with token,
// ignoring the VAULT_* environment.
func NewAdmin(addr, token string) (*Admin, error) {
	client, err := newRootClient(addr, token, "")
	if err != nil {
		return nil, err
	}
	return &Admin{client: client}, nil
}

// API returns the underlying client, authenticated with the admin token.
func (a *Admin) API() *api.Client { return a.client }

// WriteJWTNamespaceRole creates role at the jwt auth mount for every
// service account of namespace (a glob on the subject), for the audience
// "vault", with Vault tokens valid for ttl with policies.
func (a *Admin) WriteJWTNamespaceRole(ctx context.Context, mount, role, namespace string, ttl time.Duration, policies ...string) error {
	_, err := a.Write(ctx, "auth/"+mount+"/role/"+role, map[string]any{
		"role_type":         "jwt",
		"bound_audiences":   []string{"vault"},
		"bound_claims_type": "glob",
		"bound_claims":      map[string]any{"sub": "system:serviceaccount:" + namespace + ":*"},
		"user_claim":        "sub",
		"token_policies":    policies,
		"token_ttl":         ttl.String(),
	})
	return err
}

// MountPKI mounts a PKI engine at mount with an EC P-256 root CA for
// domain, valid 48 h (EC keeps issuance fast), and returns the CA
// certificate in PEM.
func (a *Admin) MountPKI(ctx context.Context, mount, domain string) (string, error) {
	if err := a.Mount(ctx, mount, "pki", nil); err != nil {
		return "", err
	}
	if _, err := a.Write(ctx, "sys/mounts/"+mount+"/tune", map[string]any{"max_lease_ttl": "48h"}); err != nil {
		return "", err
	}
	root, err := a.Write(ctx, mount+"/root/generate/internal", map[string]any{
		"common_name": domain, "ttl": "48h", "key_type": "ec", "key_bits": 256,
	})
	if err != nil {
		return "", err
	}
	ca, _ := root.Data["certificate"].(string)
	if ca == "" {
		return "", fmt.Errorf("vaulttest: %s/root/generate/internal returned no certificate", mount)
	}
	return ca, nil
}

// WritePKIRole creates role at the PKI mount: EC P-256 certificates for
// domain and its subdomains, valid 1 h, leased if leased (without a lease
// Vault stores a new certificate on every issue call).
func (a *Admin) WritePKIRole(ctx context.Context, mount, role, domain string, leased bool) error {
	_, err := a.Write(ctx, mount+"/roles/"+role, map[string]any{
		"allowed_domains": domain, "allow_subdomains": true,
		"key_type": "ec", "key_bits": 256, "ttl": "1h", "max_ttl": "1h",
		"generate_lease": leased,
	})
	return err
}

// ConfigureDatabase mounts the database engine at mount, connects it (as
// the connection name) to pg, and creates role, which creates a login role
// with a password per lease.
func (a *Admin) ConfigureDatabase(ctx context.Context, mount, name, role string, pg *Postgres) error {
	if err := a.Mount(ctx, mount, "database", nil); err != nil {
		return err
	}
	if _, err := a.Write(ctx, mount+"/config/"+name, map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": pg.ConnectionURL(),
		"username":       "postgres",
		"password":       "trust-auth-ignores-this",
		"allowed_roles":  []string{role},
	}); err != nil {
		return err
	}
	_, err := a.Write(ctx, mount+"/roles/"+role, map[string]any{
		"db_name":             name,
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
		"default_ttl":         "1h",
		"max_ttl":             "24h",
	})
	return err
}
