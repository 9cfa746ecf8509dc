package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests chown to this process's own user: no capability needed, and the
// same calls as with another -uid.
func selfIDs() (int, int) { return os.Geteuid(), os.Getegid() }

func TestPrepareDirFresh(t *testing.T) {
	dir := t.TempDir()
	uid, gid := selfIDs()
	if err := prepareDir(dir, uid, gid, func(string) {}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "vault"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("vault/: %v %v", fi, err)
	}
	if got, err := os.Readlink(filepath.Join(dir, "vault.sock")); err != nil || got != "vault/vault.sock" {
		t.Fatalf("vault.sock -> %q, %v; want vault/vault.sock", got, err)
	}
	// The driver dials dir/vault.sock: a provider listening in vault/ answers.
	l, err := net.Listen("unix", filepath.Join(dir, "vault", "vault.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", filepath.Join(dir, "vault.sock"))
	if err != nil {
		t.Fatalf("dial through the link: %v", err)
	}
	c.Close()
	// Run again (every pod start): nothing changes, nothing fails.
	var lines []string
	if err := prepareDir(dir, uid, gid, func(s string) { lines = append(lines, s) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "(kept)") {
		t.Errorf("second run: %q, want the link kept", lines)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault", "vault.sock")); err != nil {
		t.Errorf("the listening socket went: %v", err)
	}
}

// A provider that listened on dir/vault.sock (as root, the old layout) left
// its socket and its state file: the socket becomes the link, the state
// moves into vault/ so the restart keeps its tokens and leases.
func TestPrepareDirFromRootLayout(t *testing.T) {
	dir := t.TempDir()
	uid, gid := selfIDs()
	l, err := net.Listen("unix", filepath.Join(dir, "vault.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, "vault.state"), []byte("sealed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(dir, uid, gid, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "vault", "vault.state")); err != nil || string(b) != "sealed" {
		t.Errorf("vault/vault.state = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "vault.state")); !os.IsNotExist(err) {
		t.Errorf("old state file still there: %v", err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "vault.sock")); got != "vault/vault.sock" {
		t.Errorf("vault.sock -> %q", got)
	}
	// Another old state file while vault/ has one (the layout changed back
	// and forth): the one written last is kept, the other removed.
	now := time.Now()
	for _, tc := range []struct {
		name     string
		oldAge   time.Duration // how long ago dir/vault.state was written
		ownAge   time.Duration // and vault/vault.state
		want     string
		oldValue string
	}{
		{"vault/ newer", 2 * time.Hour, time.Hour, "sealed", "older"},
		{"dir newer", time.Hour, 2 * time.Hour, "newer", "newer"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "vault", "vault.state"), []byte("sealed"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "vault.state"), []byte(tc.oldValue), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, "vault.state"), now, now.Add(-tc.oldAge)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, "vault", "vault.state"), now, now.Add(-tc.ownAge)); err != nil {
			t.Fatal(err)
		}
		if err := prepareDir(dir, uid, gid, func(string) {}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "vault", "vault.state")); string(b) != tc.want {
			t.Errorf("%s: vault/vault.state = %q, want %q", tc.name, b, tc.want)
		}
		if _, err := os.Lstat(filepath.Join(dir, "vault.state")); !os.IsNotExist(err) {
			t.Errorf("%s: old state file still there: %v", tc.name, err)
		}
	}
}

// Nothing that is not ours is removed: other providers' sockets stay, and a
// file or a directory where our names go is an error.
func TestPrepareDirRefuses(t *testing.T) {
	uid, gid := selfIDs()
	for _, tc := range []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"file at vault.sock", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "vault.sock"), []byte("x"), 0o644)
		}, "neither a socket nor a link"},
		{"directory at vault.sock", func(dir string) error {
			return os.Mkdir(filepath.Join(dir, "vault.sock"), 0o755)
		}, "neither a socket nor a link"},
		{"file at vault", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "vault"), []byte("x"), 0o644)
		}, "not a directory"},
		{"link at vault", func(dir string) error {
			return os.Symlink("/etc", filepath.Join(dir, "vault"))
		}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			other := filepath.Join(dir, "azure.sock")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			err := prepareDir(dir, uid, gid, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(other); err != nil {
				t.Errorf("another provider's file: %v", err)
			}
		})
	}
}

func TestPrepareDirFlags(t *testing.T) {
	dir := t.TempDir()
	uid, gid := selfIDs()
	var out bytes.Buffer
	args := []string{"prepare-dir", "-dir", dir, "-uid", strconv.Itoa(uid), "-gid", strconv.Itoa(gid)}
	if err := run(context.Background(), args, &out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), dir+"/vault.sock -> vault/vault.sock") {
		t.Errorf("output %q", out.String())
	}
	for _, bad := range [][]string{{"-dir", "relative"}, {"-uid", "-1"}, {"extra"}} {
		if err := run(context.Background(), append([]string{"prepare-dir"}, bad...), io.Discard, io.Discard,
			func(string) string { return "" }); err == nil {
			t.Errorf("prepare-dir %q: no error", bad)
		}
	}
}

// TestPrepareDirLeavesLinkedFilesAlone: a file of the node hard-linked into
// vault/ keeps its owner; only the provider's own files are given away.
func TestPrepareDirLeavesLinkedFilesAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives files to another user")
	}
	dir := t.TempDir()
	node := filepath.Join(dir, "node-file")
	if err := os.WriteFile(node, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "vault"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(node, filepath.Join(dir, "vault", "vault.state")); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "vault", "stale.sock")
	if err := os.WriteFile(own, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(dir, 12345, 12345, func(string) {}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]uint32{node: 0, own: 12345} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Sys().(*syscall.Stat_t).Uid; got != want {
			t.Errorf("%s: owner %d, want %d", filepath.Base(path), got, want)
		}
	}
}
