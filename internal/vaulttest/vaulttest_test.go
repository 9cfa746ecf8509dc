package vaulttest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "vault")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		want    string
		wantErr bool
	}{
		{name: "VAULT_BIN executable", env: exe, want: exe},
		{name: "VAULT_BIN missing", env: filepath.Join(dir, "nope"), wantErr: true},
		{name: "VAULT_BIN not executable", env: plain, wantErr: true},
		{name: "VAULT_BIN a directory", env: dir, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VAULT_BIN", tt.env)
			got, err := Binary()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Binary() = %q, %v; want error %t", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Binary() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBinaryFindsRepoRoot(t *testing.T) {
	t.Setenv("VAULT_BIN", "")
	got, err := Binary()
	if err != nil {
		t.Skipf("no repository vault binary: %v", err)
	}
	// The test runs in internal/vaulttest, two levels below the root.
	wd, _ := os.Getwd()
	want := filepath.Join(filepath.Dir(filepath.Dir(wd)), "bin", "vault")
	if got != want {
		t.Errorf("Binary() = %q, want %q", got, want)
	}
}

func TestStartFailsWhenBinaryIsNotVault(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho not vault\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Start(ctx, fake, filepath.Join(t.TempDir(), "log"))
	if err == nil {
		_ = s.Stop()
		t.Fatal("Start with a fake binary succeeded")
	}
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "not vault") {
		t.Errorf("error should say the process exited and show the log: %v", err)
	}
}

func TestStartStop(t *testing.T) {
	s := StartT(t)
	ctx := context.Background()

	if !strings.HasPrefix(s.Addr, "http://127.0.0.1:") || s.RootToken != RootToken || s.PID <= 0 {
		t.Fatalf("unexpected server %+v", s)
	}
	health, err := s.API().Sys().HealthWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if health.Version != Version {
		t.Errorf("version %q, want %q", health.Version, Version)
	}

	// The helpers: KV v1 mount, write, read back, policy, auth method.
	if err := s.Mount(ctx, "kv1", "kv", map[string]string{"version": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "kv1/app", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.API().Logical().ReadWithContext(ctx, "kv1/app")
	if err != nil || got == nil || got.Data["k"] != "v" {
		t.Fatalf("read back kv1/app = %v, %v", got, err)
	}
	if err := s.WritePolicy(ctx, "reader", `path "kv1/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableAuth(ctx, "approle", "approle"); err != nil {
		t.Fatal(err)
	}
	if err := s.Mount(ctx, "kv1", "kv", nil); err == nil {
		t.Error("mounting twice at kv1 should fail")
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Alive() {
		t.Error("server alive after Stop")
	}
	if err := syscall.Kill(s.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Stop: %v", s.PID, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := StartT(t), StartT(t)
	if a.Addr == b.Addr || a.PID == b.PID {
		t.Fatalf("servers share an address or PID: %s/%d %s/%d", a.Addr, a.PID, b.Addr, b.PID)
	}
	ctx := context.Background()
	if _, err := a.Write(ctx, "secret/data/only-a", map[string]any{"data": map[string]any{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.API().Logical().ReadWithContext(ctx, "secret/data/only-a")
	if err != nil || got != nil {
		t.Errorf("server b sees server a's secret: %v, %v", got, err)
	}
}
