// Command bench is a load benchmark of the provider. It starts a real
// Vault dev server (and a throwaway PostgreSQL when installed), seeds it,
// runs the provider binary on a temporary socket, calls Mount through the
// socket as the Secrets Store CSI driver does for many pods, and prints per
// phase the throughput, the latency and the provider's own metrics.
//
//	go run ./cmd/bench -provider bin/vault-csi-provider [-scenario kv1] [-pods 10 -rounds 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/fakeapi"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line; pods, rounds and concurrency override
// every selected scenario's own sizes when set.
type options struct {
	provider    string
	scenario    string
	pods        int
	rounds      int
	concurrency int
	floorReads  int
	timeout     time.Duration
	set         map[string]bool // flags given on the command line
	metrics     bool            // the provider has -metrics-addr
	kube        bool            // the provider has -kubeconfig and -node-name
	dir         string          // temp dir of this run
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{set: map[string]bool{}}
	fs.StringVar(&o.provider, "provider", "bin/vault-csi-provider", "provider binary")
	fs.StringVar(&o.scenario, "scenario", "all", "scenario: all, kv1, kv20, dynamic, pki, burst200 or scale1000; or hostile (attacks by a class, not part of all)")
	fs.IntVar(&o.pods, "pods", 0, "pods per scenario (default: the scenario's)")
	fs.IntVar(&o.rounds, "rounds", 0, "republish rounds after the start (default: the scenario's)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "mounts in flight, 0 = all pods at once (default: the scenario's)")
	fs.IntVar(&o.floorReads, "floor-reads", 500, "bare Vault reads timed for the floor")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "deadline of each Mount (kubelet's is 2m)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.set["pods"] && o.pods < 1, o.rounds < 0, o.concurrency < 0, o.floorReads < 1, o.timeout <= 0:
		return nil, errors.New("-pods, -floor-reads and -timeout must be positive; -rounds and -concurrency not negative")
	}
	return o, nil
}

// override applies the size flags given on the command line to sc.
func (o *options) override(sc scenario) scenario {
	if o.set["pods"] {
		sc.pods = o.pods
	}
	if o.set["rounds"] {
		sc.rounds = o.rounds
	}
	if o.set["concurrency"] {
		sc.concurrency = o.concurrency
	}
	return sc
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	var selected []scenario
	if o.scenario != "hostile" {
		if selected, err = selectScenarios(o.scenario); err != nil {
			return err
		}
	}
	if o.provider, err = filepath.Abs(o.provider); err != nil {
		return err
	}
	out, err := exec.Command(o.provider, "-version").Output()
	if err != nil {
		return fmt.Errorf("%s -version: %w", o.provider, err)
	}
	o.metrics = hasFlag(o.provider, "metrics-addr")
	o.kube = hasFlag(o.provider, "kubeconfig") && hasFlag(o.provider, "node-name")
	if o.dir, err = os.MkdirTemp("", "vault-csi-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(o.dir)
	if o.scenario == "hostile" {
		fmt.Println(strings.TrimSpace(string(out)))
		return runHostile(ctx, o)
	}

	e, err := setup(ctx, o.dir)
	if err != nil {
		return err
	}
	defer e.close()
	pgVersion := "none"
	if e.pg != nil {
		pgVersion = e.pg.Version
	}
	fmt.Println(machineLine(strings.TrimSpace(string(out)), vaulttest.Version, pgVersion))
	fmt.Printf("vault %s (pid %d); latencies in ms as the driver sees them; metric figures are deltas of the provider's /metrics\n", e.vault.Addr, e.vault.PID)
	if !o.metrics {
		fmt.Println("note: this provider has no -metrics-addr flag: its metrics are n/a")
	}
	if o.kube {
		fmt.Printf("kubernetes: an in-process fake API server per scenario; the provider runs with -namespace %s -node-name %s and sees the bench's pods\n", fakeapi.System, fakeapi.Node)
	} else {
		fmt.Println("note: this provider has no -kubeconfig or -node-name flag: it runs without Kubernetes and pods are never deleted")
	}

	var failed []string
	for _, sc := range selected {
		err := runScenario(ctx, e, sc, o)
		if (errors.Is(err, errMountsFailed) || errors.Is(err, errNotForgotten)) && ctx.Err() == nil {
			failed = append(failed, sc.name)
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failures in %s", strings.Join(failed, ", "))
	}
	return nil
}
