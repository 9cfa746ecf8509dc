package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/fakeapi"
)

const (
	// watchTimeout bounds the wait for the provider's pod watch at start.
	watchTimeout = 15 * time.Second
	// forgetTimeout bounds the wait for the caches to empty after deletion.
	forgetTimeout = 2 * time.Minute
	// settleTime is the pause after the caches emptied before memory is
	// read: the last revocation ends and the runtime may collect.
	settleTime = 5 * time.Second

	mHeapInuse = "go_memstats_heap_inuse_bytes"
	mGCCycles  = "go_gc_duration_seconds_count"
)

// errNotForgotten marks a scenario whose deleted pods stayed in the
// provider's caches; the bench goes on and exits non-zero at the end.
var errNotForgotten = errors.New("deleted pods not forgotten")

// startKube starts the fake API server for a scenario when the provider
// can use it, and returns it (nil otherwise) with the provider's flags.
func startKube(o *options, dir string) (*fakeapi.Server, []string, error) {
	if !o.kube {
		return nil, nil, nil
	}
	k, err := fakeapi.Start(dir)
	if err != nil {
		return nil, nil, err
	}
	return k, k.ProviderArgs(), nil
}

// registerPods waits for the provider's pod watch and then creates the
// session's pods on the fake API server, before their first mount.
func (s *session) registerPods(ctx context.Context) error {
	if s.kube == nil {
		return nil
	}
	if err := s.kube.WaitWatching(ctx, watchTimeout); err != nil {
		return fmt.Errorf("%w\nprovider log:\n%s", err, s.prov.LogTail())
	}
	refs, err := fakeapi.PodsOf(s.reqs)
	if err != nil {
		return err
	}
	s.kube.AddPods(refs)
	return nil
}

// rssOrNaN is the RSS of pid in MiB, NaN if unknown.
func rssOrNaN(pid int) float64 {
	v, err := rssMiB(pid)
	if err != nil {
		return math.NaN()
	}
	return v
}

// memPoint is the provider's memory and goroutines at one moment.
type memPoint struct {
	name string
	rss  float64
	snap snapshot
}

// deletePods deletes every pod of the session on the fake API server, waits
// until the provider's token and lease caches are empty, then settleTime
// more, and reports the time it took, the revocations, and memory and
// goroutines before the first mount, after the last phase and now.
func deletePods(ctx context.Context, s *session, r *scenarioResult) error {
	last := r.last()
	points := []memPoint{{"before the first mount", r.initialRSS, r.initial}, {"after " + last.name, last.rss, last.after}}
	if s.kube == nil {
		printf("delete: skipped: this provider has no -kubeconfig or -node-name flag, so pods cannot be deleted")
		printMemory(points)
		return nil
	}
	vaultBefore, err := countVault(ctx, s.env.root)
	if err != nil {
		return err
	}
	before := s.prov.metrics.scrape(ctx)
	start := time.Now()
	n := s.kube.DeleteAll()
	forgot, snap := waitForgotten(ctx, s.prov.metrics, forgetTimeout)
	elapsed := time.Since(start)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settleTime):
	}
	after := s.prov.metrics.scrape(ctx)
	rss := rssOrNaN(s.prov.PID())
	vaultAfter, err := countVault(ctx, s.env.root)
	if err != nil {
		return err
	}
	took := "n/a (no metrics)"
	switch {
	case forgot:
		took = f2(elapsed.Seconds()) + " s"
	case snap != nil:
		took = fmt.Sprintf("NOT within %s: token cache %s, lease cache %s", forgetTimeout, f0(snap.sum(mTokenCache)), f0(snap.sum(mLeaseCache)))
	}
	revokes := after.sum(mVaultRequests, "operation", "revoke") - before.sum(mVaultRequests, "operation", "revoke")
	lists, watches, _ := s.kube.Counts()
	printf("delete: %d pods; token and lease caches empty after %s; Vault revoke requests per pod %s (not 2xx: %s); Vault's login leases gone per pod %s (%d -> %d); pod lists %d, watches %d",
		n, took, f2(perMount(revokes, n)), f0(notOK(after, before, "revoke")),
		f2(perMount(float64(vaultBefore["logins"]-vaultAfter["logins"]), n)), vaultBefore["logins"], vaultAfter["logins"], lists, watches)
	printMemory(append(points, memPoint{fmt.Sprintf("after deletion +%s", settleTime), rss, after}))
	printf("RSS lags the heap: Go returns freed memory to the OS gradually; GC cycles show whether a collection ran since")
	if !forgot && snap != nil {
		return fmt.Errorf("%s: %w", s.sc.name, errNotForgotten)
	}
	return nil
}

// waitForgotten polls the metrics until both caches are empty or timeout
// passes; it returns whether they emptied and the last scrape.
func waitForgotten(ctx context.Context, m *scraper, timeout time.Duration) (bool, snapshot) {
	deadline := time.Now().Add(timeout)
	for {
		snap := m.scrape(ctx)
		if snap == nil {
			return false, nil
		}
		if snap.sum(mTokenCache) == 0 && snap.sum(mLeaseCache) == 0 {
			return true, snap
		}
		if time.Now().After(deadline) {
			return false, snap
		}
		select {
		case <-ctx.Done():
			return false, snap
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// notOK is the change of an operation's Vault requests whose status is
// not 2xx.
func notOK(after, before snapshot, op string) float64 {
	count := func(s snapshot) float64 {
		if s == nil {
			return math.NaN()
		}
		total := 0.0
		for _, x := range s {
			if x.name == mVaultRequests && x.labels["operation"] == op && !strings.HasPrefix(x.labels["status"], "2") {
				total += x.value
			}
		}
		return total
	}
	return count(after) - count(before)
}

// printMemory prints RSS, heap in use, goroutines and GC cycles so far at
// each point.
func printMemory(points []memPoint) {
	printf("%-26s %8s %16s %11s %10s", "provider", "RSS MiB", "heap in use MiB", "goroutines", "GC cycles")
	for _, p := range points {
		printf("%-26s %8s %16s %11s %10s", p.name, f1(p.rss), f1(p.snap.sum(mHeapInuse)/(1<<20)),
			f0(p.snap.sum(mGoroutines)), f0(p.snap.sum(mGCCycles)))
	}
}
