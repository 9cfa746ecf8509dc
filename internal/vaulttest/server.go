// Package vaulttest runs a real Vault dev server (the v1.13.0 binary built
// into <repo>/bin/vault) for tests and the demo, and provides helpers to
// configure it: mounts, policies, jwt auth, and a signer of tokens shaped
// like projected Kubernetes service-account tokens.
//
// Each server listens on a free loopback port chosen with bind(0) (with
// plain HTTP, or https from its own dev CA with StartTLS), is
// confirmed to be the process we started (PID alive, version 1.13.0, our
// root token) before anything is written to it, and is stopped by PID.
package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// ModulePath identifies the repository root when looking for bin/vault.
	ModulePath = "github.com/vault-csi-provider/vault-csi-provider"
	// Version is the Vault version Start insists on.
	Version = "1.13.0"
	// RootToken is the dev server's root token.
	RootToken = "root"

	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Binary returns the vault binary: $VAULT_BIN if set, else bin/vault in the
// repository root (see RepoBinary).
func Binary() (string, error) { return RepoBinary("vault", "VAULT_BIN") }

// RepoBinary returns the executable $env names if set, else bin/name in the
// repository root, found by walking up from the working directory to the
// go.mod that declares ModulePath (nested tool modules are skipped).
func RepoBinary(name, env string) (string, error) {
	if bin := os.Getenv(env); bin != "" {
		return checkExecutable(bin, "$"+env)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("vaulttest: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRepoRoot(dir) {
			return checkExecutable(filepath.Join(dir, "bin", name), "repository bin/"+name)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return "", fmt.Errorf("vaulttest: no go.mod for module %s above %s; set %s", ModulePath, wd, env)
		}
	}
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

func checkExecutable(path, what string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("vaulttest: %s: %w", what, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("vaulttest: %s: %s is not an executable file", what, path)
	}
	return path, nil
}

// Server is a running Vault dev server.
type Server struct {
	Addr      string // http://127.0.0.1:PORT, or https:// when started with TLS
	RootToken string
	PID       int
	LogPath   string
	// CACert is the PEM file of the CA that signed the server's certificate
	// ("" without TLS). Vault deletes it on Stop: copy it to keep it.
	CACert string
	// Admin configures the server with the root token.
	*Admin

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // set before exited is closed
	certDir string        // "" without TLS
	tempDir string        // certDir when StartTLS created it; removed by Stop
	stop    sync.Once
	stopErr error
}

// Start starts `vault server -dev` from bin on a free loopback port, with
// its output in logPath (a new temp file when empty), and returns once the
// server is healthy and confirmed to be ours. ctx bounds the start only; the
// server runs until Stop. If the port is taken between choosing and
// binding it, Start tries once more with another port.
func Start(ctx context.Context, bin, logPath string) (*Server, error) {
	return startRetry(ctx, bin, logPath, "")
}

func startRetry(ctx context.Context, bin, logPath, certDir string) (*Server, error) {
	s, err := start(ctx, bin, logPath, certDir)
	if err != nil && errors.Is(err, errPortTaken) {
		s, err = start(ctx, bin, logPath, certDir)
	}
	return s, err
}

var errPortTaken = errors.New("listen address already in use")

// start runs one attempt; with a certDir the server uses -dev-tls.
func start(ctx context.Context, bin, logPath, certDir string) (*Server, error) {
	if err := checkCertDir(certDir); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logFile, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"server", "-dev",
		"-dev-root-token-id=" + RootToken,
		"-dev-listen-address=" + listen,
		"-dev-no-store-token"}
	scheme := "http://"
	if certDir != "" {
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+certDir)
		scheme = "https://"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("vaulttest: starting %s: %w", bin, err)
	}
	s := &Server{
		Addr:      scheme + listen,
		RootToken: RootToken,
		PID:       cmd.Process.Pid,
		LogPath:   logFile.Name(),
		cmd:       cmd,
		logFile:   logFile,
		exited:    make(chan struct{}),
		certDir:   certDir,
	}
	if certDir != "" {
		s.CACert = filepath.Join(certDir, devTLSFiles[0])
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		if bytes.Contains(s.logTail(), []byte("address already in use")) {
			return nil, fmt.Errorf("vaulttest: %s: %w", listen, errPortTaken)
		}
		return nil, fmt.Errorf("%w (log %s:\n%s)", err, s.LogPath, s.logTail())
	}
	return s, nil
}

// FreePort asks the kernel for a free loopback port, for the servers that
// tests and tools start. Another process may take it before the caller
// binds it: Start covers that window by retrying once.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("vaulttest: picking a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// openLog truncates an existing log so that a banner from an earlier run
// cannot pass for this one.
func openLog(logPath string) (*os.File, error) {
	if logPath == "" {
		f, err := os.CreateTemp("", "vault-dev-*.log")
		if err != nil {
			return nil, fmt.Errorf("vaulttest: log file: %w", err)
		}
		return f, nil
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: log file: %w", err)
	}
	return f, nil
}

// serverEnv drops VAULT_* so that a developer's shell settings (VAULT_ADDR,
// VAULT_TOKEN, ...) cannot change how the dev server starts.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// Stop terminates the server by PID, waits for it to exit, closes its log
// and removes its TLS files. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		defer s.logFile.Close()
		s.stopErr = errors.Join(s.terminate(), s.removeTLSFiles())
	})
	return s.stopErr
}

// terminate sends SIGTERM, and SIGKILL after stopTimeout, then waits for
// the process to be reaped.
func (s *Server) terminate() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	var err error
	if e := s.cmd.Process.Signal(syscall.SIGTERM); e != nil && !errors.Is(e, os.ErrProcessDone) {
		err = fmt.Errorf("vaulttest: stopping vault pid %d: %w", s.PID, e)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return err
}

// Alive reports whether the server process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// logTail returns the end of the server log for error messages.
func (s *Server) logTail() []byte {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return nil
	}
	const max = 2048
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return b
}
