package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/hashicorp/vault/api"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/fakeapi"
)

// errMountsFailed marks a scenario in which some Mount failed; the bench
// goes on with the next scenario and exits non-zero at the end.
var errMountsFailed = errors.New("mounts failed")

// session is one scenario run: a fresh provider and its pods' requests.
type session struct {
	env  *env
	opts *options
	sc   scenario
	prov *provider
	kube *fakeapi.Server // nil when the provider cannot use Kubernetes
	// prefix names the pods, prefix-NNNN, and their class.
	prefix string
	reqs   []*pb.MountRequest
	files  int
}

// phase is what one phase measured; before/after are metric scrapes.
type phase struct {
	name                    string
	mounts                  int
	elapsed                 time.Duration
	lat                     latencies
	before, after           snapshot
	vaultBefore, vaultAfter vaultCounts
	rss                     float64 // MiB after the phase, NaN if unknown
	inFlightMax             float64
	samples                 int
	failures                []mountFailure
}

// delta is the change of a provider metric over the phase (NaN: n/a).
func (p *phase) delta(name string, match ...string) float64 {
	return p.after.sum(name, match...) - p.before.sum(name, match...)
}

// rate is the phase's successful mounts per second.
func (p *phase) rate() float64 {
	return float64(p.mounts-len(p.failures)) / p.elapsed.Seconds()
}

// vaultDelta is the change of one of Vault's counts (see vaultCounts).
func (p *phase) vaultDelta(name string) int { return p.vaultAfter[name] - p.vaultBefore[name] }

type scenarioResult struct {
	initial    snapshot // right before the first mount
	initialRSS float64  // MiB, NaN if unknown
	phases     []phase
}

func (r *scenarioResult) last() *phase { return &r.phases[len(r.phases)-1] }

// runScenario starts a provider of its own for sc, runs the start phase
// and the republish rounds, and prints them.
func runScenario(ctx context.Context, e *env, sc scenario, o *options) error {
	sc = o.override(sc)
	objects, files, notes := sc.objects(e)
	printHeader(sc, files, notes)
	s, stop, err := startSession(ctx, e, sc, o, files, "bench-"+sc.name, objects, nil)
	if err != nil {
		return err
	}
	defer stop()
	r := &scenarioResult{initial: s.prov.metrics.scrape(ctx), initialRSS: rssOrNaN(s.prov.PID())}
	if r.phases, err = s.runPhases(ctx); err != nil {
		return err
	}
	printVaultCounts(r)
	return sc.extra(ctx, s, r)
}

// startSession starts a provider (and a fake API server) of its own for
// sc.pods pods named prefix-NNNN, whose class has objects and params over
// the bench's own, and registers the pods. stop stops what it started.
func startSession(ctx context.Context, e *env, sc scenario, o *options, files int, prefix, objects string, params map[string]string) (s *session, stop func(), err error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stopAll()
		}
	}()
	dir, err := os.MkdirTemp(o.dir, prefix+"-")
	if err != nil {
		return nil, nil, err
	}
	kube, kubeArgs, err := startKube(o, dir)
	if err != nil {
		return nil, nil, err
	}
	if kube != nil {
		stops = append(stops, kube.Close) // after the provider stopped
	}
	prov, err := startProvider(ctx, o.provider, dir, e.vault.Addr, o.metrics, kubeArgs...)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, prov.Stop)
	reqs, err := newRequests(e.issuer, e.vault.Addr, prefix, objects, params, sc.pods)
	if err != nil {
		return nil, nil, err
	}
	s = &session{env: e, opts: o, sc: sc, prov: prov, kube: kube, prefix: prefix, reqs: reqs, files: files}
	if err := s.registerPods(ctx); err != nil {
		return nil, nil, err
	}
	return s, stopAll, nil
}

// runPhases prints the table of the start and the republish rounds of the
// session's pods, and returns their phases.
func (s *session) runPhases(ctx context.Context) ([]phase, error) {
	printTableHeader()
	type step struct {
		name   string
		rounds int
	}
	plan := []step{{"start", 1}}
	if s.sc.rounds > 0 {
		plan = append(plan, step{fmt.Sprintf("republish x%d", s.sc.rounds), s.sc.rounds})
	}
	var phases []phase
	for _, step := range plan {
		p, err := s.phase(ctx, step.name, step.rounds, s.sc.sample && step.name == "start")
		if err != nil {
			return nil, err
		}
		printRow(p)
		if len(p.failures) > 0 {
			printFailures(s, p)
			return nil, fmt.Errorf("%s: %w", s.sc.name, errMountsFailed)
		}
		phases = append(phases, *p)
	}
	return phases, nil
}

// phase mounts every pod rounds times, one round after another.
func (s *session) phase(ctx context.Context, name string, rounds int, sample bool) (*phase, error) {
	p := &phase{name: name, inFlightMax: math.NaN()}
	var err error
	if p.vaultBefore, err = countVault(ctx, s.env.root); err != nil {
		return nil, err
	}
	p.before = s.prov.metrics.scrape(ctx)
	var stopSampling func() (float64, int)
	if sample {
		stopSampling = s.prov.metrics.sampleMax(ctx, mInFlight, 5*time.Millisecond)
	}
	var all []time.Duration
	for range rounds {
		res := mountAll(ctx, s.prov.Client, s.reqs, s.sc.concurrency, s.files, s.opts.timeout)
		p.mounts += len(s.reqs)
		p.elapsed += res.elapsed
		all = append(all, res.latencies...)
		p.failures = append(p.failures, res.failures...)
		if ctx.Err() != nil {
			break
		}
	}
	if stopSampling != nil {
		p.inFlightMax, p.samples = stopSampling()
	}
	p.lat = newLatencies(all)
	p.after = s.prov.metrics.scrape(ctx)
	if p.rss, err = rssMiB(s.prov.PID()); err != nil {
		p.rss = math.NaN()
	}
	if p.vaultAfter, err = countVault(ctx, s.env.root); err != nil {
		return nil, err
	}
	return p, ctx.Err()
}

// apiClient is Vault's api client logged in as a pod of the bench role.
func (s *session) apiClient(ctx context.Context) (*api.Client, error) {
	jwt, err := s.env.issuer.ServiceAccountToken(benchNamespace, "sa-floor", "floor", "floor-uid", "vault", tokenTTL)
	if err != nil {
		return nil, err
	}
	return podAPIClient(ctx, s.env.vault.Addr, jwt)
}

// interleave runs each of fns n times in turn, after one warm-up turn,
// and returns each one's latencies. Taking them in turn exposes all of
// them to the same moments of a busy machine.
func interleave(n int, fns ...func() error) ([]latencies, error) {
	d := make([][]time.Duration, len(fns))
	for i := -1; i < n; i++ {
		for j, f := range fns {
			start := time.Now()
			if err := f(); err != nil {
				return nil, err
			}
			if i >= 0 {
				d[j] = append(d[j], time.Since(start))
			}
		}
	}
	out := make([]latencies, len(fns))
	for j := range d {
		out[j] = newLatencies(d[j])
	}
	return out, nil
}

// warmMount mounts the first pod once more.
func (s *session) warmMount(ctx context.Context) error {
	if _, err := mountOne(ctx, s.prov.Client, s.reqs[0], s.files, s.opts.timeout); err != nil {
		return fmt.Errorf("warm mount one at a time: %w: %v", errMountsFailed, err)
	}
	return nil
}

// version calls Version: the round trip through the socket and gRPC that
// every Mount pays before the provider does any work.
func (s *session) version(ctx context.Context) error {
	if _, err := s.prov.Client.Version(ctx, &pb.VersionRequest{Version: "v1alpha1"}); err != nil {
		return fmt.Errorf("the Version call: %w", err)
	}
	return nil
}
