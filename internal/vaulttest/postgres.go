package vaulttest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// postgresGlob matches the servers of Debian's postgresql-MAJOR packages.
const postgresGlob = "/usr/lib/postgresql/*/bin/postgres"

// ErrNoPostgres means no PostgreSQL server can be run here.
var ErrNoPostgres = errors.New("no PostgreSQL server (install the Debian package postgresql)")

// Postgres is a throwaway PostgreSQL cluster on a free loopback port, with
// trust authentication for the superuser and passwords for other roles, for Vault's database secrets engine. Stop ends it
// by PID and deletes it.
type Postgres struct {
	Port    int
	PID     int
	Version string // as `postgres --version` reports it, e.g. "15.14 (Debian 15.14-0+deb12u1)"

	bin     string // the server's bin directory
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server has been reaped
	stop    sync.Once
	stopErr error
}

// StartPostgres initialises a cluster in a new temp dir and starts the
// newest installed server on it. PostgreSQL refuses to run as root, so as
// root it runs as the user "postgres" that Debian's package creates. ctx
// bounds the start only. If the port is taken between choosing and
// binding it, StartPostgres tries once more with another port.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and no user postgres to run it as", ErrNoPostgres)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not under a test's TempDir: the user postgres could not reach it
	// through root's 0700 parents.
	dir, err := os.MkdirTemp("", "vaulttest-pg-")
	if err != nil {
		return nil, fmt.Errorf("vaulttest: %w", err)
	}
	pg := &Postgres{bin: bin, dir: dir, logPath: filepath.Join(dir, "postgres.log")}
	if err := pg.initdb(ctx, cred); err != nil {
		_ = pg.Stop()
		return nil, err
	}
	err = pg.start(ctx, cred)
	if errors.Is(err, errPortTaken) {
		err = pg.start(ctx, cred)
	}
	if err != nil {
		_ = pg.Stop()
		return nil, err
	}
	return pg, nil
}

// StartPostgresT starts a cluster for one test and stops it in t.Cleanup.
// A missing server fails the test: make test installs it.
func StartPostgresT(t testing.TB) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx)
	if errors.Is(err, ErrNoPostgres) {
		t.Fatalf("PostgreSQL required: %v; `make test` installs it with hack/apt-install.sh", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stopping postgres: %v", err)
		}
	})
	return pg
}

// postgresBinDir is the bin directory of the newest installed server.
func postgresBinDir() (string, error) {
	found, _ := filepath.Glob(postgresGlob)
	if len(found) == 0 {
		return "", fmt.Errorf("%w: nothing matches %s", ErrNoPostgres, postgresGlob)
	}
	return newestBinDir(found), nil
}

// newestBinDir picks by major version as a number, so 9 loses to 15.
func newestBinDir(servers []string) string {
	major := func(server string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(server))))
		return n
	}
	return filepath.Dir(slices.MaxFunc(servers, func(a, b string) int { return cmp.Compare(major(a), major(b)) }))
}

// env is the whole environment of initdb, the server and psql, so that a
// developer's PG* settings cannot redirect them.
func (pg *Postgres) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
}

func (pg *Postgres) initdb(ctx context.Context, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(pg.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("vaulttest: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "initdb"), "-D", filepath.Join(pg.dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	cmd.Dir, cmd.Env, cmd.SysProcAttr = pg.dir, pg.env(), childAttr(cred)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vaulttest: initdb: %w\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(pg.bin, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("vaulttest: postgres --version: %w", err)
	}
	pg.Version = strings.TrimPrefix(strings.TrimSpace(string(out)), "postgres (PostgreSQL) ")
	return pg.writeHBA(cred)
}

// hba trusts the superuser (Vault's connection has no real password) and
// checks every other role's password, so that credentials Vault creates
// can be proven to log in.
const hba = `local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
`

func (pg *Postgres) writeHBA(cred *syscall.Credential) error {
	path := filepath.Join(pg.dir, "data", "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("vaulttest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("vaulttest: %w", err)
		}
	}
	return nil
}

// start runs the server on a new free port and waits until it is ready.
func (pg *Postgres) start(ctx context.Context, cred *syscall.Credential) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	// Truncated, so that a line from a failed first attempt cannot pass
	// for this one.
	logFile, err := os.Create(pg.logPath)
	if err != nil {
		return fmt.Errorf("vaulttest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", filepath.Join(pg.dir, "data"), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+pg.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200")
	cmd.Dir, cmd.Env, cmd.SysProcAttr = pg.dir, pg.env(), childAttr(cred)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vaulttest: starting postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	pg.Port, pg.PID, pg.cmd, pg.exited = port, cmd.Process.Pid, cmd, exited
	return pg.waitReady(ctx)
}

// waitReady waits for the server's own "ready" line in its log.
func (pg *Postgres) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		log, _ := os.ReadFile(pg.logPath)
		if bytes.Contains(log, []byte("ready to accept connections")) {
			return nil
		}
		select {
		case <-pg.exited:
			log, _ := os.ReadFile(pg.logPath)
			if bytes.Contains(log, []byte("Address already in use")) {
				return fmt.Errorf("vaulttest: postgres port %d: %w", pg.Port, errPortTaken)
			}
			return fmt.Errorf("vaulttest: postgres pid %d exited during start:\n%s", pg.PID, log)
		case <-ctx.Done():
			return fmt.Errorf("vaulttest: postgres pid %d not ready: %w", pg.PID, ctx.Err())
		case <-tick.C:
		}
	}
}

// ConnectionURL is the connection_url for Vault's
// postgresql-database-plugin; Vault fills in the templates.
func (pg *Postgres) ConnectionURL() string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)
}

// Query runs sql as the superuser postgres with the cluster's own psql
// and returns the rows, unaligned, without headers.
func (pg *Postgres) Query(ctx context.Context, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", "-d", "postgres", "-c", sql)
	cmd.Env = pg.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("vaulttest: psql %q: %w: %s", sql, err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// Login connects as user with password over TCP, where every role but the
// superuser needs its password, and runs SELECT 1.
func (pg *Postgres) Login(ctx context.Context, user, password string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "psql"), "-X", "-A", "-t", "-w",
		"-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", user, "-d", "postgres", "-c", "SELECT 1")
	cmd.Env = append(pg.env(), "PGPASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vaulttest: login as %s: %w: %s", user, err, bytes.TrimSpace(out))
	}
	return nil
}

// Stop sends SIGINT (fast shutdown) to the server's PID, SIGKILL after
// stopTimeout, waits for it to exit and deletes the cluster. It is safe to
// call more than once.
func (pg *Postgres) Stop() error {
	pg.stop.Do(func() {
		var err error
		if pg.cmd != nil {
			if e := pg.cmd.Process.Signal(syscall.SIGINT); e != nil && !errors.Is(e, os.ErrProcessDone) {
				err = fmt.Errorf("vaulttest: stopping postgres pid %d: %w", pg.PID, e)
			}
			select {
			case <-pg.exited:
			case <-time.After(stopTimeout):
				_ = pg.cmd.Process.Kill()
				<-pg.exited
			}
		}
		pg.stopErr = errors.Join(err, os.RemoveAll(pg.dir))
	})
	return pg.stopErr
}

// childAttr adds the credential to run as (nil: ours) to what every child
// of this package gets.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	attr := sysProcAttr()
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Credential = cred
	return attr
}
