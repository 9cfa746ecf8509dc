package vaulttest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestNewestBinDir(t *testing.T) {
	tests := []struct {
		name    string
		servers []string
		want    string
	}{
		{name: "one", servers: []string{"/usr/lib/postgresql/15/bin/postgres"}, want: "/usr/lib/postgresql/15/bin"},
		{name: "numeric, not lexical", servers: []string{"/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/9/bin/postgres"}, want: "/usr/lib/postgresql/15/bin"},
		{name: "glob order", servers: []string{"/usr/lib/postgresql/13/bin/postgres", "/usr/lib/postgresql/16/bin/postgres", "/usr/lib/postgresql/15/bin/postgres"}, want: "/usr/lib/postgresql/16/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newestBinDir(tt.servers); got != tt.want {
				t.Errorf("newestBinDir(%q) = %q, want %q", tt.servers, got, tt.want)
			}
		})
	}
}

func TestPostgresStartStop(t *testing.T) {
	pg := StartPostgresT(t)
	if pg.Version == "" {
		t.Error("no server version")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The server answering on Port is ours: it serves from our cluster.
	got, err := pg.Query(ctx, "SHOW data_directory")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(pg.dir, "data"); got != want {
		t.Errorf("data_directory = %q, want %q", got, want)
	}
	if got, err := pg.Query(ctx, "SHOW port"); err != nil || got != strconv.Itoa(pg.Port) {
		t.Errorf("port = %q, %v; want %d", got, err, pg.Port)
	}
	// Other roles need their password.
	if _, err := pg.Query(ctx, `CREATE ROLE app WITH LOGIN PASSWORD 'right'`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"right", true}, {"wrong", false}, {"", false}} {
		if err := pg.Login(ctx, "app", tc.password); (err == nil) != tc.ok {
			t.Errorf("Login(app, %q) = %v, want success %v", tc.password, err, tc.ok)
		}
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pg.exited:
	default:
		t.Errorf("postgres pid %d still running after Stop", pg.PID)
	}
	if _, err := os.Stat(pg.dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s not removed: %v", pg.dir, err)
	}
	if _, err := pg.Query(ctx, "SELECT 1"); err == nil {
		t.Error("a query succeeded after Stop")
	}
}
