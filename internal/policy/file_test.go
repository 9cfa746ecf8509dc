package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileReloadKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("vaultAddresses: [https://a:8200]\n")
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	allowed := func(addr string) bool { return f.Current().Check(Request{Addresses: []string{addr}}) == nil }
	if !allowed("https://a:8200") || allowed("https://b:8200") {
		t.Fatal("first policy not in force")
	}
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("Reload of the same file: changed %v, %v", changed, err)
	}

	write("vaultAddresses: [https://b:8200]\n")
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("Reload of a new policy: changed %v, %v", changed, err)
	}
	if allowed("https://a:8200") || !allowed("https://b:8200") {
		t.Fatal("new policy not in force")
	}

	for name, bad := range map[string]string{"typo": "vaultAddress: [https://c:8200]\n", "empty": ""} {
		write(bad)
		changed, err := f.Reload()
		if changed || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: Reload = %v, %v; want ErrInvalid naming the file", name, changed, err)
		}
		if !allowed("https://b:8200") {
			t.Fatalf("%s: the last good policy is no longer in force", name)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil || !allowed("https://b:8200") {
		t.Fatalf("missing file: Reload = %v, want an error and the last good policy", err)
	}
}

func TestOpenRefusesBadFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxPolicyBytes)+"\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.yaml"), big} {
		if _, err := Open(path); err == nil {
			t.Errorf("Open(%s) succeeded, want an error", path)
		}
	}
}
