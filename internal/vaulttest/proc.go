package vaulttest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Proc is a child process a tool or test starts (the provider, a Vault
// node of a cluster) and ends by its own PID only.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once reaped
}

// StartProc runs bin with args and PATH as its only environment (no VAULT_*
// of the caller's shell), in the directory of logPath (Vault's snowflake
// plugin writes a cache under the working directory without HOME),
// appending its output to logPath so that a restarted child's log keeps its
// history. On Linux the kernel kills it if the caller dies first.
func StartProc(bin string, args []string, logPath string) (*Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the child has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Alive reports whether the child still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the child.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits until the child is reaped.
func (p *Proc) Kill() {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(os.Stderr, "kill pid %d: %v\n", p.PID(), err)
	}
	<-p.exited
}

// Stop sends SIGTERM, then SIGKILL after 10 s, and waits until the child
// is reaped.
func (p *Proc) Stop() {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		<-p.exited // already gone
		return
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// LogTail is the last lines of a log file, for error messages.
func LogTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	for i, n := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			if n++; n == lines {
				b = b[i+1:]
				break
			}
		}
	}
	return string(b)
}
