package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary policies and requests through Parse and Check:
// neither may panic, Parse's errors wrap ErrInvalid, and Check's refusals
// wrap ErrDenied within the message bound.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "payments", "app-1", "payments-api", "kubernetes", "", "https://vault.vault.svc:8200", "GET", "secret/data/payments/x")
	f.Add(testPolicy, "payments", "app-1", "payments-api", "team-a/..", "payments/", "https://a.vault.svc:8200,x", "PUT", "secret/data/payments/../x")
	f.Add("vaultAddresses: [\"https://*:*\"]\ndefault: {secretPaths: [{prefix: a}]}", "x", "", "", "", "", "https://[::1", "", "a")
	f.Fuzz(func(t *testing.T, policy, ns, sa, role, mount, vns, addrs, method, path string) {
		p, err := Parse([]byte(policy))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		r := Request{
			Namespace:       ns,
			NamespaceLabels: map[string]string{"team": sa},
			ServiceAccount:  sa,
			Set:             strings.Split(role, ","),
			Addresses:       strings.Split(addrs, ","),
			Role:            role,
			AuthMount:       mount,
			VaultNamespace:  vns,
			Secrets:         []Secret{{Method: method, Path: path}, {Method: method, Path: vns + path}},
		}
		_ = p.RuleFor(ns, r.NamespaceLabels)
		if err := p.Check(r); err != nil {
			if !errors.Is(err, ErrDenied) {
				t.Fatalf("Check error %v does not wrap ErrDenied", err)
			}
			if n := len(err.Error()); n > maxMessageBytes {
				t.Fatalf("message is %d bytes: %s", n, err)
			}
		}
	})
}
