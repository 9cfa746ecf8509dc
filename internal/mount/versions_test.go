package mount

import (
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// TestVersionIdentity: equal content gets the same version only for the
// same object of the same namespace read from the same Vault; another
// tenant serving the same secret from its own Vault sees another version,
// so versions cannot be compared across tenants to test guesses.
func TestVersionIdentity(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	content := []byte("s3cret")
	params := func(ns, addr, vaultNS string) *spc.Params {
		return &spc.Params{Pod: auth.Pod{Namespace: ns, ServiceAccount: "app", UID: "controller-uid"},
			Vault: vault.Config{Address: addr, Namespace: vaultNS}}
	}
	withSA := func(p *spc.Params, sa string) *spc.Params { p.Pod.ServiceAccount = sa; return p }
	output := func(name string) *spc.Output {
		return &spc.Output{ID: spc.LengthPrefixed("value", name, "password", "utf-8", "GET\x00secret/data/app")}
	}
	obj := output("password")
	base := version(key, identity(params("shop", "https://vault.shop:8200", ""), obj, "password"), content)

	tests := []struct {
		name string
		p    *spc.Params
		obj  *spc.Output
		same bool
	}{
		{"same everything (republish, restart)", params("shop", "https://vault.shop:8200", ""), obj, true},
		{"another pod namespace", params("rival", "https://vault.shop:8200", ""), obj, false},
		// The sync controller's Mounts share one pod UID: the namespace
		// (above) and the service account separate them.
		{"another service account", withSA(params("shop", "https://vault.shop:8200", ""), "other"), obj, false},
		{"another Vault address", params("shop", "https://vault.rival:8200", ""), obj, false},
		{"another Vault namespace", params("shop", "https://vault.shop:8200", "rival"), obj, false},
		// Without length prefixes "sho"+"p..." and "shop"+"..." could
		// join to the same bytes.
		{"fields shifted across a boundary", params("sho", "phttps://vault.shop:8200", ""), obj, false},
		{"another object name", params("shop", "https://vault.shop:8200", ""), output("pw"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := version(key, identity(tt.p, tt.obj, "password"), content)
			if (got == base) != tt.same {
				t.Errorf("version equal to the base: %t, want %t", got == base, tt.same)
			}
		})
	}
}
