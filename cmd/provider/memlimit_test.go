package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noEnv := func(string) string { return "" }
	tests := []struct {
		name   string
		files  []string
		getenv func(string) string
		want   int64
	}{
		{"cgroup v2 limit", []string{write("v2", "268435456\n")}, noEnv, 214748364},
		{"v2 unlimited", []string{write("max", "max\n"), write("v1", "1000")}, noEnv, 0},
		{"v1 when v2 is absent", []string{filepath.Join(dir, "none"), write("v1b", "1000\n")}, noEnv, 800},
		{"v1 unlimited", []string{write("v1u", "9223372036854771712\n")}, noEnv, 0},
		{"GOMEMLIMIT wins", []string{write("v2b", "1000")}, func(k string) string {
			if k == "GOMEMLIMIT" {
				return "100MiB"
			}
			return ""
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(old)
			got := setMemoryLimit(tc.getenv, tc.files)
			if got != tc.want {
				t.Fatalf("set %d, want %d", got, tc.want)
			}
			if tc.want > 0 {
				if now := debug.SetMemoryLimit(-1); now != tc.want {
					t.Errorf("runtime limit %d, want %d", now, tc.want)
				}
			}
		})
	}
}
