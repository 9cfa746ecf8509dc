package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
)

// Lease prefixes counted on Vault's side, independently of the provider's
// metrics: the tokens of jwt logins, PKI certificates, database users.
var leasePrefixes = map[string]string{
	"logins":   "auth/jwt/login",
	"pki":      "pki/issue/" + benchRole,
	"database": "database/creds/" + benchRole,
}

// newAPIClient is Vault's own api client for addr with token, ignoring the
// VAULT_* environment that could redirect it.
func newAPIClient(addr, token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address, cfg.AgentAddress, cfg.Limiter = addr, "", nil
	cfg.MaxRetries = 0
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		tr.TLSClientConfig.InsecureSkipVerify = false
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c, nil
}

// podAPIClient logs in as a bench pod with Vault's api client, so that the
// floor reads go through the same role and policy as the provider's.
func podAPIClient(ctx context.Context, addr, jwt string) (*api.Client, error) {
	c, err := newAPIClient(addr, "")
	if err != nil {
		return nil, err
	}
	secret, err := c.Logical().WriteWithContext(ctx, "auth/jwt/login", map[string]any{"role": benchRole, "jwt": jwt})
	if err != nil {
		return nil, fmt.Errorf("jwt login: %w", err)
	}
	if secret == nil || secret.Auth == nil {
		return nil, fmt.Errorf("jwt login returned no token")
	}
	c.SetToken(secret.Auth.ClientToken)
	return c, nil
}

// readAll reads paths with c, at most conc at a time (1: one after
// another): what Vault itself allows for the reads of one mount.
func readAll(ctx context.Context, c *api.Client, paths []string, conc int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, p := range paths {
		g.Go(func() error {
			s, err := c.Logical().ReadWithContext(gctx, p)
			if err == nil && s == nil {
				err = fmt.Errorf("read %s: not found", p)
			}
			return err
		})
	}
	return g.Wait()
}

// vaultCounts is the number of leases under each of leasePrefixes, and
// under "certificates" the number of certificates the PKI mount stored.
type vaultCounts map[string]int

// vaultCertificates is the key of vaultCounts that counts pki/certs: every
// certificate issued, with or without a lease, and the CA's own.
const vaultCertificates = "certificates"

// countVault lists Vault's leases and issued certificates with the root
// client.
func countVault(ctx context.Context, root *api.Client) (vaultCounts, error) {
	counts := vaultCounts{}
	for name, prefix := range leasePrefixes {
		n, err := countList(ctx, root, "sys/leases/lookup/"+prefix)
		if err != nil {
			return nil, fmt.Errorf("listing leases under %s: %w", prefix, err)
		}
		counts[name] = n
	}
	n, err := countList(ctx, root, "pki/certs")
	if err != nil {
		return nil, fmt.Errorf("listing issued certificates: %w", err)
	}
	counts[vaultCertificates] = n
	return counts, nil
}

// countList is the number of keys a LIST of path returns (0 for none).
func countList(ctx context.Context, root *api.Client, path string) (int, error) {
	s, err := root.Logical().ListWithContext(ctx, path)
	if err != nil || s == nil {
		return 0, err
	}
	keys, _ := s.Data["keys"].([]any)
	return len(keys), nil
}
