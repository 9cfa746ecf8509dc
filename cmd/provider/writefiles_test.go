package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
)

// TestWriteFilesDoesNotFollowSymlinks: a symlink planted under -out, at a
// file or at a directory, or a hard link at a file, is refused with an
// error naming the path, and what it points to is untouched; files get the
// object's mode, else 0600, whatever the umask.
func TestWriteFilesDoesNotFollowSymlinks(t *testing.T) {
	tests := []struct {
		name    string
		plant   func(t *testing.T, out, outside string)
		path    string
		mode    int32
		wantErr bool
	}{
		{"new nested file", func(*testing.T, string, string) {}, "db/password", checkFileMode, false},
		{"object's mode", func(*testing.T, string, string) {}, "password", 0o640, false},
		{"existing file replaced, mode set", func(t *testing.T, out, _ string) {
			must(t, os.WriteFile(filepath.Join(out, "password"), []byte("old and longer content"), 0o666))
		}, "password", checkFileMode, false},
		{"symlink at the file", func(t *testing.T, out, outside string) {
			must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(out, "password")))
		}, "password", checkFileMode, true},
		{"dangling symlink at the file", func(t *testing.T, out, outside string) {
			must(t, os.Symlink(filepath.Join(outside, "created"), filepath.Join(out, "password")))
		}, "password", checkFileMode, true},
		{"symlink at a directory", func(t *testing.T, out, outside string) {
			must(t, os.Symlink(outside, filepath.Join(out, "db")))
		}, "db/victim", checkFileMode, true},
		{"symlink to a directory inside -out", func(t *testing.T, out, _ string) {
			must(t, os.Mkdir(filepath.Join(out, "real"), 0o755))
			must(t, os.Symlink("real", filepath.Join(out, "db")))
		}, "db/password", checkFileMode, true},
		{"FIFO at the file", func(t *testing.T, out, _ string) {
			must(t, syscall.Mkfifo(filepath.Join(out, "password"), 0o600))
		}, "password", checkFileMode, true},
		// With another mode than the file's, so that a chmod through the
		// link shows too.
		{"hard link at the file", func(t *testing.T, out, outside string) {
			must(t, os.Link(filepath.Join(outside, "victim"), filepath.Join(out, "password")))
		}, "password", 0o640, true},
		{"hard link in a directory", func(t *testing.T, out, outside string) {
			must(t, os.Mkdir(filepath.Join(out, "db"), 0o700))
			must(t, os.Link(filepath.Join(outside, "victim"), filepath.Join(out, "db", "password")))
		}, "db/password", 0o640, true},
	}
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, outside := t.TempDir(), t.TempDir()
			victim := filepath.Join(outside, "victim")
			must(t, os.WriteFile(victim, []byte("untouched"), 0o600))
			tt.plant(t, out, outside)

			err := writeFiles(out, &mount.Result{Files: []mount.File{{Path: tt.path, Mode: tt.mode, Contents: []byte("secret")}}})
			if b, _ := os.ReadFile(victim); string(b) != "untouched" {
				t.Errorf("the file outside -out was written: %q", b)
			}
			if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("the file outside -out changed: %v, %v", fi.Mode(), err)
			}
			if _, err := os.Lstat(filepath.Join(outside, "created")); err == nil {
				t.Error("a file was created outside -out")
			}
			if tt.wantErr {
				if !errors.Is(err, errNotFollowed) {
					t.Fatalf("err = %v, want a refusal", err)
				}
				if msg := err.Error(); !strings.Contains(msg, filepath.Join(out, filepath.FromSlash(tt.path))) ||
					strings.Contains(msg, "secret") || strings.Contains(msg, "untouched") {
					t.Errorf("err = %q, want it to name the path and no contents", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(out, filepath.FromSlash(tt.path))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(p)
			if string(b) != "secret" || fi.Mode().Perm() != os.FileMode(tt.mode) {
				t.Errorf("wrote %q with mode %v, want %q with %#o", b, fi.Mode().Perm(), "secret", tt.mode)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
