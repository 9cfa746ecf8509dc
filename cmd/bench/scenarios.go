package main

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// scenario is one load shape. Its sizes are defaults that flags override.
type scenario struct {
	name, about string
	pods        int
	rounds      int  // republish rounds after the start
	concurrency int  // mounts in flight; 0: all pods at once
	sample      bool // sample vault_requests_in_flight during the start
	// objects returns the class's objects YAML and how many files a mount
	// yields; notes are printed under the header.
	objects func(e *env) (yaml string, files int, notes []string)
	// extra prints what the scenario adds to the table.
	extra func(ctx context.Context, s *session, r *scenarioResult) error
}

var scenarios = []scenario{
	{name: "kv1", about: "1 KV v2 object per mount", pods: 50, rounds: 5, concurrency: 16,
		objects: kvObjects(1), extra: floorExtra},
	{name: "kv20", about: "20 KV v2 objects in one mount", pods: 50, rounds: 5, concurrency: 16,
		objects: kvObjects(kvSecrets), extra: sequentialExtra},
	{name: "dynamic", about: "leased PKI cert+key from one issue call, and database credentials", pods: 20, rounds: 5, concurrency: 16,
		objects: dynamicObjects, extra: leasesExtra},
	{name: "pki", about: "PKI cert+key from one issue call of a role without generate_lease, kept until due; then certificateReuse \"false\" as the reference",
		pods: 20, rounds: 5, concurrency: 16, objects: pkiObjects, extra: certificatesExtra},
	{name: "burst200", about: "200 pods starting at once", pods: 200, rounds: 0, concurrency: 0, sample: true,
		objects: kvObjects(1), extra: burstExtra},
	{name: "scale1000", about: "1,000 pods, republished (10,000 mounts in all), then deleted", pods: 1000, rounds: 9, concurrency: 16,
		objects: kvObjects(1), extra: scaleExtra},
}

// selectScenarios returns the scenario named name, or all of them.
func selectScenarios(name string) ([]scenario, error) {
	if name == "all" {
		return scenarios, nil
	}
	var names []string
	for _, sc := range scenarios {
		if sc.name == name {
			return []scenario{sc}, nil
		}
		names = append(names, sc.name)
	}
	return nil, fmt.Errorf("unknown scenario %q; choose all, %s", name, strings.Join(names, ", "))
}

// kvObjects reads the password of the first n seeded KV secrets.
func kvObjects(n int) func(*env) (string, int, []string) {
	return func(e *env) (string, int, []string) {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "- objectName: kv/s%02d\n  secretPath: %s\n  secretKey: password\n", i, e.kvPaths[i])
		}
		return b.String(), n, nil
	}
}

// dynamicObjects takes a certificate and its key from one pki/issue call
// and, with PostgreSQL, a user and password from one database/creds read.
func dynamicObjects(e *env) (string, int, []string) {
	yaml := `- objectName: tls.crt
  secretPath: pki/issue/bench
  method: PUT
  secretArgs: {common_name: app.bench.test}
  secretKey: certificate
- objectName: tls.key
  secretPath: pki/issue/bench
  method: PUT
  secretArgs: {common_name: app.bench.test}
  secretKey: private_key
`
	if e.pg == nil {
		return yaml, 2, []string{"database credentials: " + e.pgNote}
	}
	yaml += `- objectName: db/username
  secretPath: database/creds/bench
  secretKey: username
- objectName: db/password
  secretPath: database/creds/bench
  secretKey: password
`
	return yaml, 4, []string{"database credentials: PostgreSQL " + e.pg.Version + " on 127.0.0.1:" + fmt.Sprint(e.pg.Port)}
}

// pkiObjects takes a certificate and its key from one pki/issue call of
// certRole, which issues and stores a new certificate on every call.
func pkiObjects(*env) (string, int, []string) {
	yaml := fmt.Sprintf(`- objectName: tls.crt
  secretPath: pki/issue/%[1]s
  method: PUT
  secretArgs: {common_name: app.bench.test, ttl: 1h}
  secretKey: certificate
- objectName: tls.key
  secretPath: pki/issue/%[1]s
  method: PUT
  secretArgs: {common_name: app.bench.test, ttl: 1h}
  secretKey: private_key
`, certRole)
	return yaml, 2, []string{"role " + certRole + " without generate_lease: a new certificate on every issue call, none leased; ttl 1h, so a kept one is due after 40 min"}
}

// referenceParams is the pki class's switch to the reference's behaviour:
// a new certificate on every mount.
var referenceParams = map[string]string{"certificateReuse": "false"}

// certificatesExtra reports the certificates each phase issued, counted in
// Vault's pki/certs and by the provider, then runs the same class with
// certificateReuse "false" on as many new pods of a fresh provider.
func certificatesExtra(ctx context.Context, s *session, r *scenarioResult) error {
	printCertificates("kept until due", r.phases)
	objects, _, _ := s.sc.objects(s.env)
	ref, stop, err := startSession(ctx, s.env, s.sc, s.opts, s.files, s.prefix+"-ref", objects, referenceParams)
	if err != nil {
		return err
	}
	defer stop()
	printf("the same class with certificateReuse \"false\" (the reference's behaviour), pods %s-NNNN on a fresh provider:", ref.prefix)
	phases, err := ref.runPhases(ctx)
	if err != nil {
		return err
	}
	printCertificates(`certificateReuse "false"`, phases)
	if len(phases) > 1 {
		kept, off := &r.phases[1], &phases[1]
		printf("%s, kept until due vs certificateReuse \"false\": new certificates per pod and republish %s vs %s (Vault's count); %s vs %s mounts/s, p50 %s vs %s ms, p99 %s vs %s ms",
			kept.name, f2(newCertificates(kept)), f2(newCertificates(off)),
			f1(kept.rate()), f1(off.rate()), f2(kept.lat.pct(50)), f2(off.lat.pct(50)), f2(kept.lat.pct(99)), f2(off.lat.pct(99)))
	}
	return nil
}

// newCertificates is Vault's count of certificates issued per mount.
func newCertificates(p *phase) float64 {
	return perMount(float64(p.vaultDelta(vaultCertificates)), p.mounts)
}

// printCertificates prints, per phase, the new certificates per mount (per
// pod in the start, per pod and round in the republish) from Vault's
// pki/certs and the provider's metrics, and the certificates reused.
func printCertificates(label string, phases []phase) {
	differ := false
	for _, p := range phases {
		vault := newCertificates(&p)
		prov := perMount(p.delta(mCertificates, "event", "issued")+p.delta(mCertificates, "event", "reissued"), p.mounts)
		differ = differ || vault != prov && !math.IsNaN(prov)
		printf("%s, %s: new certificates per mount %s (Vault's pki/certs), %s (provider: issued+reissued); reused per mount %s",
			label, p.name, f2(vault), f2(prov), f2(perMount(p.delta(mCertificates, "event", "reused"), p.mounts)))
	}
	if differ {
		printf("the provider's count differs from Vault's (certificates_total counts every certificate the provider had issued)")
	}
}

// floorExtra measures, in turn, a bare KV read with Vault's api client, a
// warm mount and a Version call, one at a time (the phases' latencies
// include queueing).
func floorExtra(ctx context.Context, s *session, _ *scenarioResult) error {
	c, err := s.apiClient(ctx)
	if err != nil {
		return err
	}
	n := s.opts.floorReads
	t, err := interleave(n,
		func() error { return readAll(ctx, c, s.env.kvPaths[:1], 1) },
		func() error { return s.warmMount(ctx) },
		func() error { return s.version(ctx) })
	if err != nil {
		return err
	}
	floor, warm, hop := t[0].pct(50), t[1].pct(50), t[2].pct(50)
	printf("floor, %d times each, in turn: bare KV read with Vault's api client as a pod of the same role p50 %s ms; warm mount p50 %s ms, +%s ms; "+
		"the socket round trip alone (Version) p50 %s ms, so the provider's own part is %s ms",
		n, f2(floor), f2(warm), f2(warm-floor), f2(hop), f2(warm-floor-hop))
	return nil
}

// mountConcurrency is the provider's default -mount-concurrency, which the
// bench runs it with.
const mountConcurrency = 8

// sequentialExtra times, in turn, the 20 reads one after another with
// Vault's client, the same reads as many at once as the provider sends
// them, and a warm mount.
func sequentialExtra(ctx context.Context, s *session, _ *scenarioResult) error {
	c, err := s.apiClient(ctx)
	if err != nil {
		return err
	}
	n := max(10, s.opts.floorReads/kvSecrets)
	t, err := interleave(n,
		func() error { return readAll(ctx, c, s.env.kvPaths, 1) },
		func() error { return readAll(ctx, c, s.env.kvPaths, mountConcurrency) },
		func() error { return s.warmMount(ctx) })
	if err != nil {
		return err
	}
	seq, par, warm := t[0].pct(50), t[1].pct(50), t[2].pct(50)
	printf("%d times each, in turn: %d reads one after another with Vault's api client p50 %s ms; warm mount p50 %s ms; ratio mount/sequential %s",
		n, kvSecrets, f2(seq), f2(warm), f2(warm/seq))
	printf("the same %d reads straight to Vault, %d at a time as the provider sends them: p50 %s ms = %sx sequential, Vault's own limit here; the mount takes %sx that",
		kvSecrets, mountConcurrency, f2(par), f2(par/seq), f2(warm/par))
	return nil
}

// leasesExtra reports the leases each republish creates, from the
// provider's metrics and from Vault's own lease list.
func leasesExtra(_ context.Context, _ *session, r *scenarioResult) error {
	for _, p := range r.phases {
		printf("new leases per mount in %s: %s (provider metrics); Vault's count %s (pki %s, database %s)", p.name,
			f2(perMount(p.delta(mLeases, "event", "created"), p.mounts)),
			f2(perMount(float64(p.vaultDelta("pki")+p.vaultDelta("database")), p.mounts)),
			f2(perMount(float64(p.vaultDelta("pki")), p.mounts)), f2(perMount(float64(p.vaultDelta("database")), p.mounts)))
	}
	return nil
}

// burstExtra reports logins per pod and the peak of Vault calls in flight.
func burstExtra(_ context.Context, _ *session, r *scenarioResult) error {
	p := r.phases[0]
	printf("logins per pod: %s (provider metrics), %s (Vault's count); max vault_requests_in_flight during the burst: %s (%d samples)",
		f2(perMount(p.delta(mLogins), p.mounts)), f2(perMount(float64(p.vaultDelta("logins")), p.mounts)),
		f0(p.inFlightMax), p.samples)
	return nil
}

// scaleExtra reports memory and goroutines after many pods, then deletes
// the pods and reports how the provider lets go of them.
func scaleExtra(ctx context.Context, s *session, r *scenarioResult) error {
	last := r.last()
	mounts := 0
	for _, p := range r.phases {
		mounts += p.mounts
	}
	printf("goroutines before the first mount %s, after %d mounts %s; RSS after %s MiB; token cache %s, lease cache %s",
		f0(r.initial.sum(mGoroutines)), mounts, f0(last.after.sum(mGoroutines)), f1(last.rss),
		f0(last.after.sum(mTokenCache)), f0(last.after.sum(mLeaseCache)))
	return deletePods(ctx, s, r)
}
