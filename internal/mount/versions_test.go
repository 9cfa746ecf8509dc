package mount

import (
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// TestVersionIdentity: equal content gets the same version only for the
// same object of the same namespace read from the same Vault; another
// tenant serving the same secret from its own Vault sees another version,
// so versions cannot be compared across tenants to test guesses.
func TestVersionIdentity(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	content := []byte("s3cret")
	params := func(ns, addr, vaultNS string) *Params {
		return &Params{Pod: auth.Pod{Namespace: ns}, Vault: vault.Config{Address: addr, Namespace: vaultNS}}
	}
	obj := Object{Name: "password", Key: "password", Encoding: "utf-8"}
	const req = "GET\x00secret/data/app\x00\x00null"
	base := version(key, identity(params("shop", "https://vault.shop:8200", ""), obj, req), content)

	tests := []struct {
		name string
		p    *Params
		obj  Object
		same bool
	}{
		{"same everything (republish, restart)", params("shop", "https://vault.shop:8200", ""), obj, true},
		{"another pod namespace", params("rival", "https://vault.shop:8200", ""), obj, false},
		{"another Vault address", params("shop", "https://vault.rival:8200", ""), obj, false},
		{"another Vault namespace", params("shop", "https://vault.shop:8200", "rival"), obj, false},
		// Without length prefixes "sho"+"p..." and "shop"+"..." could
		// join to the same bytes.
		{"fields shifted across a boundary", params("sho", "phttps://vault.shop:8200", ""), obj, false},
		{"another object name", params("shop", "https://vault.shop:8200", ""), Object{Name: "pw", Key: "password", Encoding: "utf-8"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := version(key, identity(tt.p, tt.obj, req), content)
			if (got == base) != tt.same {
				t.Errorf("version equal to the base: %t, want %t", got == base, tt.same)
			}
		})
	}
}

func TestLengthPrefixedIsUnambiguous(t *testing.T) {
	pairs := [][2][]string{
		{{"a", "bc"}, {"ab", "c"}},
		{{"a\x00b", "c"}, {"a", "b\x00c"}},
		{{"", "a"}, {"a", ""}},
		{{"a"}, {"a", ""}},
	}
	for _, p := range pairs {
		if string(lengthPrefixed(p[0]...)) == string(lengthPrefixed(p[1]...)) {
			t.Errorf("%q and %q encode the same", p[0], p[1])
		}
	}
}
