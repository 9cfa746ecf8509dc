package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// "vault-csi-provider prepare-dir" lets the provider run as a user that
// cannot write the driver's provider directory. That directory is root's
// (0755 on a stock node) and shared by every provider on the node, so it is
// left as it is: run once as root, before the provider, this makes our own
// directory in it and a link where the driver looks for our socket:
//
//	<dir>/vault/           owned by -uid:-gid, 0700: the socket and the state file
//	<dir>/vault.sock  ->   vault/vault.sock (relative, so it resolves in any mount)
//
// It needs no capability but CAP_CHOWN (root owns <dir>, so creating and
// renaming entries in it needs none) and touches no file but ours. The
// provider then listens with -endpoint=<dir>/vault/vault.sock; its default
// state file is vault.state beside the socket.

const (
	// providerName is the name the driver finds the provider by.
	providerName = "vault"
	// ownDirMode: only the provider's user, and root (the driver), may enter.
	ownDirMode = 0o700
)

// runPrepareDir parses the subcommand's flags and prepares the directory.
func runPrepareDir(args []string, stdout, stderr io.Writer) error {
	set := flag.NewFlagSet("vault-csi-provider prepare-dir", flag.ContinueOnError)
	set.SetOutput(stderr)
	dir := set.String("dir", "/provider", "the driver's provider directory, as mounted in this container")
	uid := set.Int("uid", 65532, "the user the provider runs as: owner of <dir>/vault")
	gid := set.Int("gid", 65532, "the provider's group: group of <dir>/vault")
	set.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vault-csi-provider prepare-dir [-dir DIR] [-uid UID] [-gid GID]\n\n"+
			"Run as root before a non-root provider: makes DIR/%[1]s (owned by UID:GID, 0700) and the link\n"+
			"DIR/%[1]s.sock -> %[1]s/%[1]s.sock; the provider then listens with -endpoint=DIR/%[1]s/%[1]s.sock.\n\n", providerName)
		set.PrintDefaults()
	}
	if err := set.Parse(args); err != nil {
		return err
	}
	if set.NArg() > 0 {
		return fmt.Errorf("prepare-dir: unexpected arguments %q", set.Args())
	}
	if !filepath.IsAbs(*dir) {
		return fmt.Errorf("prepare-dir: -dir %q must be an absolute path", *dir)
	}
	if *uid < 0 || *gid < 0 {
		return fmt.Errorf("prepare-dir: -uid and -gid must be 0 or more")
	}
	return prepareDir(filepath.Clean(*dir), *uid, *gid, func(line string) { fmt.Fprintln(stdout, line) })
}

// prepareDir makes dir/vault owned by uid:gid and the link dir/vault.sock
// pointing into it; report is told what changed. It is idempotent, and
// fails rather than remove anything that is not ours: a directory or a
// regular file where the link goes, or anything but a directory at
// dir/vault.
func prepareDir(dir string, uid, gid int, report func(string)) error {
	own := filepath.Join(dir, providerName)
	if err := ownDir(own, report); err != nil {
		return err
	}
	// While own is still ours (root's), nothing needs a capability.
	if err := moveLegacyState(dir, own, report); err != nil {
		return err
	}
	if err := chownEntries(own, uid, gid); err != nil {
		return err
	}
	if err := os.Lchown(own, uid, gid); err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	report(fmt.Sprintf("%s: owner %d:%d, mode %o", own, uid, gid, ownDirMode))
	return linkSocket(dir, report)
}

// ownDir makes path a directory of mode 0700 owned by this process, which
// may then move files into it and set its mode with no capability.
func ownDir(path string, report func(string)) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(path, ownDirMode); err != nil {
			return fmt.Errorf("prepare-dir: %w", err)
		}
		report("created " + path)
	case err != nil:
		return fmt.Errorf("prepare-dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("prepare-dir: %s exists and is not a directory (mode %s): remove it", path, fi.Mode())
	}
	if err := os.Lchown(path, os.Geteuid(), os.Getegid()); err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	if err := os.Chmod(path, ownDirMode); err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	return nil
}

// moveLegacyState moves the state file a provider listening on
// dir/vault.sock kept (dir/vault.state, the default beside that socket) into
// own, so that moving to the non-root layout keeps tokens and leases. When
// own holds one too (the layout changed back and forth), the one written
// last is kept and the other removed.
func moveLegacyState(dir, own string, report func(string)) error {
	old := filepath.Join(dir, providerName+".state")
	fi, err := os.Lstat(old)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	dst := filepath.Join(own, providerName+".state")
	if cur, err := os.Lstat(dst); err == nil && !fi.ModTime().After(cur.ModTime()) {
		if err := os.Remove(old); err != nil {
			return fmt.Errorf("prepare-dir: %w", err)
		}
		report("removed " + old + " (" + dst + " is newer)")
		return nil
	}
	if err := os.Rename(old, dst); err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	report("moved " + old + " to " + dst)
	return nil
}

// chownEntries gives the provider's user the regular files and sockets in
// own (a state file, a stale socket) that a provider running as another
// user left; anything else is left alone. A file with more than one link
// may be another file of the node, linked in by whoever ran as the
// provider's user: it is left alone too, as giving it away would.
func chownEntries(own string, uid, gid int) error {
	entries, err := os.ReadDir(own)
	if err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	for _, e := range entries {
		if t := e.Type(); t != 0 && t != fs.ModeSocket {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("prepare-dir: %w", err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			continue
		}
		if err := os.Lchown(filepath.Join(own, e.Name()), uid, gid); err != nil {
			return fmt.Errorf("prepare-dir: %w", err)
		}
	}
	return nil
}

// linkSocket points dir/vault.sock at vault/vault.sock. A socket or another
// link there (a provider that listened on dir/vault.sock, a stale link) is
// replaced atomically; a regular file or a directory is an error.
func linkSocket(dir string, report func(string)) error {
	link := filepath.Join(dir, providerName+".sock")
	target := providerName + "/" + providerName + ".sock"
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("prepare-dir: %w", err)
	case fi.Mode().Type() == fs.ModeSymlink:
		if got, err := os.Readlink(link); err == nil && got == target {
			report(link + " -> " + target + " (kept)")
			return nil
		}
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("prepare-dir: %s exists and is neither a socket nor a link (mode %s): remove it", link, fi.Mode())
	}
	tmp := filepath.Join(dir, "."+providerName+".sock."+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("prepare-dir: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("prepare-dir: %w", err)
	}
	report(link + " -> " + target)
	return nil
}
