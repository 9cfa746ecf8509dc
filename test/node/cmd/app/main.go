// Command app is the test workload of the one-node cluster: it reports what
// it sees of its secrets, a file per -file and the variable -env, as the
// SHA-256 of their contents (never the contents), once at start and again
// whenever one changes, one line each on stdout:
//
//	file /mnt/secrets/password sha256=...
//	env PASSWORD sha256=...
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var files, envs listFlag
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.Var(&files, "file", "a file to watch; repeat")
	fs.Var(&envs, "env", "an environment variable to report; repeat")
	interval := fs.Duration("interval", time.Second, "how often to read the files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, e := range envs {
		v, ok := os.LookupEnv(e)
		fmt.Fprintf(out, "env %s %s\n", e, digest([]byte(v), ok))
	}
	seen := map[string]string{}
	for {
		for _, f := range files {
			b, err := os.ReadFile(f)
			d := digest(b, err == nil)
			if seen[f] != d {
				seen[f] = d
				fmt.Fprintf(out, "file %s %s\n", f, d)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

// digest names the contents by their SHA-256, or says they are missing.
func digest(b []byte, ok bool) string {
	if !ok {
		return "missing"
	}
	s := sha256.Sum256(b)
	return "sha256=" + hex.EncodeToString(s[:])
}
