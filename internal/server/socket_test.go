package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoveStaleSocket(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string
		gone    bool
	}{
		{"nothing there", func(*testing.T, string) {}, "", true},
		{"stale socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			// Keep the file: closing a unix listener would unlink it.
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		}, "", true},
		{"regular file is kept", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a socket", false},
		{"directory is kept", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is not a socket", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.sock")
			tt.setup(t, path)
			err := RemoveStaleSocket(path)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			_, statErr := os.Lstat(path)
			if gone := os.IsNotExist(statErr); gone != tt.gone {
				t.Errorf("path gone = %t, want %t", gone, tt.gone)
			}
		})
	}
}

func TestListenReplacesStaleSocketAndSetsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "vault.sock")
	first, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	first.(*net.UnixListener).SetUnlinkOnClose(false)
	first.Close()

	l, err := Listen(path, 0o600)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode = %#o, want 0600", got)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	conn.Close()
}
