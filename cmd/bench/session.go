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
)

// errMountsFailed marks a scenario in which some Mount failed; the bench
// goes on with the next scenario and exits non-zero at the end.
var errMountsFailed = errors.New("mounts failed")

// session is one scenario run: a fresh provider and its pods' requests.
type session struct {
	env   *env
	opts  *options
	sc    scenario
	prov  *provider
	kube  *fakeKube // nil when the provider cannot use Kubernetes
	reqs  []*pb.MountRequest
	files int
}

// phase is what one phase measured; before/after are metric scrapes.
type phase struct {
	name                    string
	mounts                  int
	elapsed                 time.Duration
	lat                     latencies
	before, after           snapshot
	vaultBefore, vaultAfter leaseCounts
	rss                     float64 // MiB after the phase, NaN if unknown
	inFlightMax             float64
	samples                 int
	failures                []mountFailure
}

// delta is the change of a provider metric over the phase (NaN: n/a).
func (p *phase) delta(name string, match ...string) float64 {
	return p.after.sum(name, match...) - p.before.sum(name, match...)
}

// vaultDelta is the change of Vault's lease count under a prefix.
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
	dir, err := os.MkdirTemp(o.dir, sc.name+"-")
	if err != nil {
		return err
	}
	kube, kubeArgs, err := startKube(o, dir)
	if err != nil {
		return err
	}
	if kube != nil {
		defer kube.close() // after the provider stopped
	}
	prov, err := startProvider(ctx, o.provider, dir, e.vault.Addr, o.metrics, kubeArgs...)
	if err != nil {
		return err
	}
	defer prov.stop()
	reqs, err := newRequests(e.issuer, e.vault.Addr, "bench-"+sc.name, objects, sc.pods)
	if err != nil {
		return err
	}
	s := &session{env: e, opts: o, sc: sc, prov: prov, kube: kube, reqs: reqs, files: files}
	if err := s.registerPods(ctx); err != nil {
		return err
	}
	r := &scenarioResult{initial: prov.metrics.scrape(ctx), initialRSS: rssOrNaN(prov.pid())}
	printTableHeader()
	type step struct {
		name   string
		rounds int
	}
	plan := []step{{"start", 1}}
	if sc.rounds > 0 {
		plan = append(plan, step{fmt.Sprintf("republish x%d", sc.rounds), sc.rounds})
	}
	for _, step := range plan {
		p, err := s.phase(ctx, step.name, step.rounds, sc.sample && step.name == "start")
		if err != nil {
			return err
		}
		printRow(p)
		if len(p.failures) > 0 {
			printFailures(s, p)
			return fmt.Errorf("%s: %w", sc.name, errMountsFailed)
		}
		r.phases = append(r.phases, *p)
	}
	printVaultCounts(r)
	return sc.extra(ctx, s, r)
}

// phase mounts every pod rounds times, one round after another.
func (s *session) phase(ctx context.Context, name string, rounds int, sample bool) (*phase, error) {
	p := &phase{name: name, inFlightMax: math.NaN()}
	var err error
	if p.vaultBefore, err = countLeases(ctx, s.env.root); err != nil {
		return nil, err
	}
	p.before = s.prov.metrics.scrape(ctx)
	var stopSampling func() (float64, int)
	if sample {
		stopSampling = s.prov.metrics.sampleMax(ctx, mInFlight, 5*time.Millisecond)
	}
	var all []time.Duration
	for range rounds {
		res := mountAll(ctx, s.prov.client, s.reqs, s.sc.concurrency, s.files, s.opts.timeout)
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
	if p.rss, err = rssMiB(s.prov.pid()); err != nil {
		p.rss = math.NaN()
	}
	if p.vaultAfter, err = countLeases(ctx, s.env.root); err != nil {
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
	if _, err := mountOne(ctx, s.prov.client, s.reqs[0], s.files, s.opts.timeout); err != nil {
		return fmt.Errorf("warm mount one at a time: %w: %v", errMountsFailed, err)
	}
	return nil
}

// version calls Version: the round trip through the socket and gRPC that
// every Mount pays before the provider does any work.
func (s *session) version(ctx context.Context) error {
	if _, err := s.prov.client.Version(ctx, &pb.VersionRequest{Version: "v1alpha1"}); err != nil {
		return fmt.Errorf("the Version call: %w", err)
	}
	return nil
}
