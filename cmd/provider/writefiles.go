package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
)

// checkFileMode is the mode of a file the offline check writes for an object
// without filePermission: only its user may read it.
const checkFileMode = 0o600

// checkDirMode is the mode of the directories the offline check creates.
const checkDirMode = 0o700

// errNotFollowed marks a path element under -out that is a symlink, a hard
// link or not what the path needs there; the check refuses rather than
// follow it.
var errNotFollowed = errors.New("not followed")

// writeFiles writes the files under dir with their modes. The paths were
// validated as relative and clean when the parameters were parsed. No
// symlink inside dir is followed: each directory is opened relative to its
// parent with O_NOFOLLOW, and each file likewise, so a link planted in dir
// (at a file or a directory) cannot redirect a write, inside dir or out; an
// existing file with more than one link is refused.
func writeFiles(dir string, res *mount.Result) error {
	// -out itself is the user's choice, symlink or not; created if missing.
	if err := os.MkdirAll(dir, checkDirMode); err != nil {
		return fmt.Errorf("-out %s: %w", dir, err)
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("-out %s: %w", dir, err)
	}
	defer unix.Close(root)
	for _, f := range res.Files {
		if err := writeFileAt(root, f); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, filepath.FromSlash(f.Path)), err)
		}
	}
	return nil
}

// writeFileAt writes f under the directory open as root.
func writeFileAt(root int, f mount.File) error {
	elems := strings.Split(f.Path, "/")
	parent := root
	defer func() {
		if parent != root {
			unix.Close(parent)
		}
	}()
	for _, el := range elems[:len(elems)-1] {
		if err := unix.Mkdirat(parent, el, checkDirMode); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		fd, err := unix.Openat(parent, el, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("%w: %s is a symlink or not a directory", errNotFollowed, el)
		}
		if err != nil {
			return err
		}
		if parent != root {
			unix.Close(parent)
		}
		parent = fd
	}
	name := elems[len(elems)-1]
	// O_NONBLOCK: a FIFO planted at the name fails instead of blocking.
	fd, err := unix.Openat(parent, name, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, checkFileMode)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("%w: %s is a symlink or a special file", errNotFollowed, name)
	}
	if err != nil {
		return err
	}
	file := os.NewFile(uintptr(fd), name)
	defer file.Close()
	// Checked on the descriptor, before anything changes the file: a hard
	// link planted at the name shares its inode, mode and contents with a
	// file elsewhere, which O_NOFOLLOW does not see.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file", errNotFollowed, name)
	}
	if st.Nlink > 1 {
		return fmt.Errorf("%w: %s has %d links: a hard link to a file elsewhere", errNotFollowed, name, st.Nlink)
	}
	// Fchmod: the mode exactly, whatever the umask, on a new or old file.
	if err := file.Chmod(os.FileMode(f.Mode)); err != nil {
		return err
	}
	if err := file.Truncate(0); err != nil {
		return err
	}
	if _, err := file.Write(f.Contents); err != nil {
		return err
	}
	return file.Close()
}
