package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Bounds on the TLS files a Config names.
const (
	maxTLSFileBytes   = 1 << 20 // one PEM file: a system bundle is ~220 KiB
	maxCADirBytes     = 2 << 20 // all files of a CA directory together
	maxCADirEntries   = 1024    // entries walked in a CA directory
	refusedTLSFileMsg = "refused: it must be a readable regular PEM file (a CA directory: at most %d entries, %d bytes in all) " +
		"of at most %d bytes, in a directory the provider allows (its -allowed-tls-dirs flag)"
)

// WithTLSFiles restricts the TLS files a Config may name. The paths in
// trusted (the operator's own settings) are always allowed; any other
// file, named by a SecretProviderClass, must resolve, symlinks followed, into
// one of dirs (none when dirs is empty). Without this option every file is
// trusted. Either way a file must be regular, PEM, and within the size
// limits; a refused untrusted file gets one message whatever the reason,
// so that it tells nothing about the file.
func WithTLSFiles(trusted, dirs []string) Option {
	return func(s *shared) {
		p := &filePolicy{trusted: make(map[string]bool, len(trusted)), dirs: dirs}
		for _, t := range trusted {
			if t != "" {
				p.trusted[t] = true
			}
		}
		s.files = p
	}
}

// filePolicy says which TLS files may be read; nil trusts every file.
type filePolicy struct {
	trusted map[string]bool
	dirs    []string
}

func (p *filePolicy) isTrusted(path string) bool { return p == nil || p.trusted[path] }

// tlsMaterial is what the TLS files of a Config hold.
type tlsMaterial struct {
	roots *x509.CertPool // nil: the system roots
	certs []tls.Certificate
}

// loadTLS reads cfg's TLS files within ctx's deadline. The reading runs on
// its own goroutine so that even a file on a stuck filesystem cannot hold
// the caller past its deadline.
func (p *filePolicy) loadTLS(ctx context.Context, cfg Config) (tlsMaterial, error) {
	if cfg.CACert == "" && cfg.CADirectory == "" && cfg.ClientCert == "" {
		return tlsMaterial{}, nil
	}
	type result struct {
		m   tlsMaterial
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := p.readTLS(cfg)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-ctx.Done():
		return tlsMaterial{}, newError(ErrUnavailable, ctx.Err(), "reading TLS files", "gave up: "+ctx.Err().Error())
	}
}

func (p *filePolicy) readTLS(cfg Config) (tlsMaterial, error) {
	var m tlsMaterial
	switch {
	case cfg.CACert != "": // takes precedence, as in the Vault API client
		pem, err := p.readFile(cfg.CACert, maxTLSFileBytes)
		if err == nil {
			m.roots = x509.NewCertPool()
			if !m.roots.AppendCertsFromPEM(pem) {
				err = errors.New("contains no PEM certificate")
			}
		}
		if err != nil {
			return m, p.refuse("CA certificate file", cfg.CACert, err)
		}
	case cfg.CADirectory != "":
		roots, err := p.readCADir(cfg.CADirectory)
		if err != nil {
			return m, p.refuse("CA directory", cfg.CADirectory, err)
		}
		m.roots = roots
	}
	if cfg.ClientCert == "" {
		return m, nil
	}
	certPEM, err := p.readFile(cfg.ClientCert, maxTLSFileBytes)
	if err != nil {
		return m, p.refuse("client certificate file", cfg.ClientCert, err)
	}
	keyPEM, err := p.readFile(cfg.ClientKey, maxTLSFileBytes)
	if err != nil {
		return m, p.refuse("client key file", cfg.ClientKey, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Reported on the key, which must match the certificate; its
		// content never reaches the message (X509KeyPair does not quote it).
		return m, p.refuse("client key file", cfg.ClientKey, err)
	}
	m.certs = []tls.Certificate{pair}
	return m, nil
}

// refuse reports a file that cannot be used. An untrusted file gets one
// message whatever the reason (missing, not allowed, not regular, too large,
// not PEM), so a class cannot probe the node's files.
func (p *filePolicy) refuse(what, path string, reason error) error {
	if p.isTrusted(path) {
		return configError(reason, "%s %q: %v", what, path, reason)
	}
	return configError(nil, "%s %q: "+refusedTLSFileMsg, what, path, maxCADirEntries, maxCADirBytes, maxTLSFileBytes)
}

// readFile reads a regular file of at most limit bytes.
func (p *filePolicy) readFile(path string, limit int64) ([]byte, error) {
	f, err := p.open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRegular(f, limit)
}

// open opens path for reading without blocking on a FIFO or a device; an
// untrusted path only through an os.Root at an allowed directory, so that
// no symlink swapped in meanwhile can lead it out.
func (p *filePolicy) open(path string) (*os.File, error) {
	const flags = os.O_RDONLY | syscall.O_NONBLOCK // os adds O_CLOEXEC
	if p.isTrusted(path) {
		return os.OpenFile(path, flags, 0)
	}
	root, rel, err := p.allowedRoot(path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.OpenFile(rel, flags, 0)
}

// allowedRoot resolves path and returns the allowed directory holding it,
// opened as a root, with path relative to it.
func (p *filePolicy) allowedRoot(path string) (*os.Root, string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, "", err
	}
	resolved, err = filepath.Abs(resolved)
	if err != nil {
		return nil, "", err
	}
	for _, dir := range p.dirs {
		d, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(d, resolved)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			continue
		}
		root, err := os.OpenRoot(d)
		if err != nil {
			continue
		}
		return root, rel, nil
	}
	return nil, "", errors.New("not in an allowed directory")
}

// readRegular reads f if it is a regular file of at most limit bytes; the
// check is on the open descriptor, so nothing can be swapped in after it.
func readRegular(f *os.File, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// readCADir reads every PEM file under dir, recursively as the Vault API
// client does, within maxCADirEntries and maxCADirBytes. Symlinks to
// directories (a Kubernetes volume's ..data) are skipped: the directory
// they point to is walked on its own.
func (p *filePolicy) readCADir(dir string) (*x509.CertPool, error) {
	var root *os.Root
	if p.isTrusted(dir) {
		r, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		root = r
	} else {
		parent, rel, err := p.allowedRoot(dir)
		if err != nil {
			return nil, err
		}
		root, err = parent.OpenRoot(rel)
		parent.Close()
		if err != nil {
			return nil, err
		}
	}
	defer root.Close()
	pool := x509.NewCertPool()
	entries, left := 0, int64(maxCADirBytes)
	err := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entries++; entries > maxCADirEntries {
			return fmt.Errorf("more than %d entries", maxCADirEntries)
		}
		if d.IsDir() {
			return nil
		}
		f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil
		}
		pem, err := readRegular(f, min(left, maxTLSFileBytes))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		left -= int64(len(pem))
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: contains no PEM certificate", name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pool, nil
}
