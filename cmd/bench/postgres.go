package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgres is a throwaway PostgreSQL cluster on a free loopback port, with
// trust authentication, stopped by PID and deleted by stop.
type postgres struct {
	Port    int
	Version string
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// errNoPostgres means the bench runs without dynamic database credentials.
var errNoPostgres = errors.New("no PostgreSQL")

// postgresBinDir is the newest /usr/lib/postgresql/*/bin with a server.
func postgresBinDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(found) == 0 {
		return "", errNoPostgres
	}
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) < majorOf(found[j]) })
	return filepath.Dir(found[len(found)-1]), nil
}

func majorOf(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(bin))))
	return n
}

// startPostgres initialises a cluster in a new temp dir and starts it.
// PostgreSQL refuses to run as root, so as root it runs as the user
// "postgres" that Debian's package creates.
func startPostgres(ctx context.Context) (*postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and no user postgres", errNoPostgres)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "vault-csi-bench-pg-")
	if err != nil {
		return nil, err
	}
	pg := &postgres{dir: dir, exited: make(chan struct{})}
	if err := pg.start(ctx, bin, cred); err != nil {
		pg.stop()
		return nil, err
	}
	return pg, nil
}

func (pg *postgres) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(pg.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(pg.dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	initdb.Dir, initdb.Env, initdb.SysProcAttr = pg.dir, []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}, childAttr(cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	out, _ := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	pg.Version = strings.TrimPrefix(strings.TrimSpace(string(out)), "postgres (PostgreSQL) ")
	port, err := freePort()
	if err != nil {
		return err
	}
	pg.Port = port
	logPath := filepath.Join(pg.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	pg.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+pg.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200")
	pg.cmd.Dir, pg.cmd.Env, pg.cmd.SysProcAttr = pg.dir, initdb.Env, childAttr(cred)
	pg.cmd.Stdout, pg.cmd.Stderr = logFile, logFile
	if err := pg.cmd.Start(); err != nil {
		pg.cmd = nil
		return fmt.Errorf("starting postgres: %w", err)
	}
	go func() { pg.cmd.Wait(); close(pg.exited) }()
	return pg.waitReady(ctx, logPath)
}

// waitReady waits for the server's own "ready" line in its log.
func (pg *postgres) waitReady(ctx context.Context, logPath string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("ready to accept connections")) {
			return nil
		}
		select {
		case <-pg.exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited during start:\n%s", b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("postgres not ready after 30s")
}

// stop sends SIGINT (fast shutdown) to the server's PID, SIGKILL after
// 10 s, and deletes the cluster.
func (pg *postgres) stop() {
	if pg.cmd != nil {
		pg.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-pg.exited:
		case <-time.After(10 * time.Second):
			pg.cmd.Process.Kill()
			<-pg.exited
		}
	}
	os.RemoveAll(pg.dir)
}
