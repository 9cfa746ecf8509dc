// Command ha runs the provider against a Vault high-availability cluster
// on loopback and breaks the cluster while pods mount: a 3-node raft
// cluster of Vault 1.13 auto-unsealed by a transit Vault, a tap (counting
// reverse proxy) in front of each node, and a front that plays the
// Service of the active node. Twenty pods mount a KV value, a certificate
// and database credentials continuously, and every mount is checked,
// while the active node is killed, the active node is sealed, and the
// node the provider uses refuses connections. It runs twice: through the
// front, and with the three taps' addresses in vaultAddress.
//
// With -scenario chaos it runs chaos.go's scenarios instead: the provider
// killed and restarted with its state file twice while pods mount and some
// are deleted, then every Vault node stopped for -vault-down while new pods
// start.
//
//	go run ./test/ha -provider bin/vault-csi-provider [-strict]
//	go run ./test/ha -provider bin/vault-csi-provider -scenario chaos -vault-down 5m
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ha:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	provider string
	// providerArgs are more flags for the provider, e.g. -vault-retry-budget=0
	// to see a cluster come back without the retry budget.
	providerArgs []string
	pods         int
	minMounts    int
	strict       bool
	keep         bool
	// scenario is "ha" or "chaos".
	scenario string
	// vaultDown is how long chaos keeps every Vault node stopped.
	vaultDown time.Duration
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("ha", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.provider, "provider", "bin/vault-csi-provider", "provider binary")
	providerArgs := fs.String("provider-args", "", "more provider flags, separated by spaces (e.g. -vault-retry-budget=0)")
	fs.IntVar(&o.pods, "pods", 20, "pods mounting at once in each run")
	fs.IntVar(&o.minMounts, "min-mounts", 500, "fewest mounts a run must make")
	fs.BoolVar(&o.strict, "strict", false, "fail on the timing target too (longest outage at most Vault's own + 1 s)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, raft data) even on success")
	fs.StringVar(&o.scenario, "scenario", "ha", "ha: faults of the active node; chaos: provider restarts, then every Vault node stopped")
	fs.DurationVar(&o.vaultDown, "vault-down", 5*time.Minute, "chaos: how long every Vault node stays stopped")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.pods < 1 || o.minMounts < 0:
		return nil, errors.New("-pods must be positive and -min-mounts not negative")
	case o.scenario != "ha" && o.scenario != "chaos":
		return nil, fmt.Errorf("-scenario %q: use ha or chaos", o.scenario)
	case o.scenario == "chaos" && (o.pods < 1+2*deletedPerRestart || o.vaultDown < startEvery):
		return nil, fmt.Errorf("chaos needs -pods of at least %d and -vault-down of at least %s", 1+2*deletedPerRestart, startEvery)
	}
	o.providerArgs = strings.Fields(*providerArgs)
	var err error
	o.provider, err = filepath.Abs(o.provider)
	return o, err
}

// harness is everything both runs share.
// The runs: through the front, and with the nodes' addresses.
const (
	modeFront     = "front"
	modeAddresses = "addresses"
)

type harness struct {
	opts    *options
	dir     string
	cluster *cluster
	taps    []*tap
	monitor *watcher // every 50 ms: Y, and the active node for the scenario
	front   *front
	seeded  *seeded
	checker *checker
	down    int      // node a fault left down or sealed, -1 for none
	stops   []func() // what setUp started, stopped in reverse order
}

// tearDown stops everything setUp started, last first.
func (h *harness) tearDown() {
	for i := len(h.stops) - 1; i >= 0; i-- {
		h.stops[i]()
	}
	h.stops = nil
}

func run(ctx context.Context) (err error) {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	begin := time.Now()
	dir, err := os.MkdirTemp("", "vault-csi-ha-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || opts.keep {
			fmt.Println("ha: logs kept in", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	h := &harness{opts: opts, dir: dir, down: -1}
	if err := h.setUp(ctx); err != nil {
		h.tearDown()
		return err
	}
	defer h.tearDown()
	fmt.Printf("ha: set up in %.1f s\n", time.Since(begin).Seconds())

	var failures []string
	if opts.scenario == "chaos" {
		if failures, err = h.chaos(ctx); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		fmt.Printf("chaos: done in %.1f s\n", time.Since(begin).Seconds())
		if len(failures) > 0 {
			return fmt.Errorf("targets missed: %s", strings.Join(failures, "; "))
		}
		return nil
	}
	for _, m := range []struct{ mode, addr string }{
		{modeFront, h.front.url()},
		{modeAddresses, strings.Join(h.tapURLs(), ",")},
	} {
		res, err := h.runMode(ctx, m.mode, m.addr)
		if err != nil {
			return fmt.Errorf("run [%s]: %w", m.mode, err)
		}
		failures = append(failures, res.report(opts)...)
	}
	fmt.Printf("ha: done in %.1f s\n", time.Since(begin).Seconds())
	if len(failures) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(failures, "; "))
	}
	return nil
}

func (h *harness) setUp(ctx context.Context) error {
	bin, err := vaulttest.Binary()
	if err != nil {
		return err
	}
	step("a transit Vault for auto-unseal, then a 3-node raft cluster")
	tr, err := startTransit(ctx, bin, h.dir)
	if err != nil {
		return err
	}
	h.stops = append(h.stops, func() { tr.server.Stop() })
	if h.cluster, err = startCluster(ctx, bin, h.dir, tr); err != nil {
		return err
	}
	h.stops = append(h.stops, h.cluster.stop)
	var nodes []string
	for _, nd := range h.cluster.nodes {
		t, err := newTap(nd.addr, nd.tapAddr)
		if err != nil {
			return err
		}
		h.taps = append(h.taps, t)
		h.stops = append(h.stops, t.refuse)
		nodes = append(nodes, nd.addr)
	}
	wctx, cancel := context.WithCancel(ctx)
	h.stops = append(h.stops, cancel)
	h.monitor = newWatcher(nodes, 50*time.Millisecond)
	go h.monitor.run(wctx)
	if h.front, err = newFront(wctx, nodes, h.taps); err != nil {
		return err
	}
	h.stops = append(h.stops, h.front.close)
	for i, nd := range h.cluster.nodes {
		fmt.Printf("   %s at %s, tap %s\n", nd.id, nd.addr, h.taps[i].url())
	}
	fmt.Printf("   front %s\n", h.front.url())

	step("seeding KV v2, PKI, PostgreSQL credentials and jwt auth on the active node")
	i, err := h.waitActive(ctx, -1)
	if err != nil {
		return err
	}
	if h.seeded, err = seed(ctx, h.cluster.admins[i]); err != nil {
		return err
	}
	h.stops = append(h.stops, func() { h.seeded.pg.Stop() })
	h.checker = newChecker(h.seeded)
	return nil
}

func (h *harness) tapURLs() []string {
	var urls []string
	for _, t := range h.taps {
		urls = append(urls, t.url())
	}
	return urls
}

func step(msg string) { fmt.Println("==> " + msg) }
