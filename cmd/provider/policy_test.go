package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A policy that does not parse stops a starting provider, naming the file
// and the line.
func TestBadPolicyStopsStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(bad, []byte("vaultAddresses: [https://vault:8200]\nrules:\n  - name: x\n    roles: web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{bad: "line 4", filepath.Join(dir, "missing.yaml"): "no such file"} {
		err := run(context.Background(), []string{"-endpoint", filepath.Join(dir, "vault.sock"), "-health-addr", "", "-metrics-addr", "",
			"-policy-file", path}, io.Discard, io.Discard, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: run = %v, want an error with %q", filepath.Base(path), err, want)
		}
	}
}

// While the provider runs, a policy file broken by the admin leaves the last
// good policy in force and clears policy_file_valid; a good one is applied.
func TestPolicyReloadWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	// Written whole and renamed into place: the reloader, every 20ms, must
	// never read a half-written file (that counted a second reload error
	// under load).
	writePolicy := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy("vaultAddresses: [\"http://127.0.0.1:1\"]\n")
	metricsAddr := freeAddr(t)
	client, ctx := startDaemon(t, "-policy-file", path, "-policy-reload-interval", "20ms", "-metrics-addr", metricsAddr,
		"-vault-addr", "http://127.0.0.1:1")
	// An address outside the policy, as a class or a pod's volumeAttributes
	// would set it: refused before any network call.
	req := mountRequest("p", "- objectName: a\n  secretPath: secret/data/a\n")
	var attrs map[string]string
	if err := json.Unmarshal([]byte(req.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	attrs["vaultAddress"] = "http://127.0.0.1:2"
	b, _ := json.Marshal(attrs)
	req.Attributes = string(b)
	mountCode := func() codes.Code {
		_, err := client.Mount(ctx, req)
		return status.Code(err)
	}
	if got := mountCode(); got != codes.PermissionDenied {
		t.Fatalf("first policy: %s, want PermissionDenied", got)
	}
	metric := func(name string) string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
				return line
			}
		}
		return ""
	}
	if got := metric(`vault_csi_provider_policy_denials_total{rule="vaultAddresses"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("denials: %q", got)
	}

	writePolicy("vaultAddresses: http://127.0.0.1:2\n") // not a list
	waitFor(t, "policy_file_valid 0", func() bool {
		return metric("vault_csi_provider_policy_file_valid") == "vault_csi_provider_policy_file_valid 0"
	})
	if got := mountCode(); got != codes.PermissionDenied {
		t.Fatalf("broken file: %s, want PermissionDenied by the last good policy", got)
	}

	writePolicy("vaultAddresses: [\"http://127.0.0.1:2\"]\n")
	waitFor(t, "policy_file_valid 1", func() bool {
		return metric("vault_csi_provider_policy_file_valid") == "vault_csi_provider_policy_file_valid 1"
	})
	// Allowed now: the mount goes on, to an address where nothing listens.
	if got := mountCode(); got != codes.Unavailable {
		t.Fatalf("new policy: %s, want Unavailable (nothing listens there)", got)
	}
	if got := metric(`vault_csi_provider_policy_reloads_total{result="error"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("reload errors: %q", got)
	}
	if got := metric(`vault_csi_provider_policy_reloads_total{result="ok"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("reloads: %q", got)
	}
}
