package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
)

// result is what one run measured.
type result struct {
	mode      string
	t         *tally
	faults    []fault
	rates     [][2]float64  // per fault: req/s during it and in the 2 s after
	x, y      time.Duration // longest without a right mount; without an active node
	restarted string        // why the provider counts as restarted, "" if not
	logins    float64
	pods      int
}

// runMode starts a provider reaching Vault at addr and new pods, warms
// up until each pod has mounted once, runs the scenario and stops the
// pods and the provider.
func (h *harness) runMode(ctx context.Context, mode, addr string) (*result, error) {
	step(fmt.Sprintf("run [%s]: %d pods, vaultAddress %s", mode, h.opts.pods, addr))
	prov, err := csitest.StartProvider(ctx, h.opts.provider, filepath.Join(h.dir, mode), addr, true, h.opts.providerArgs...)
	if err != nil {
		return nil, err
	}
	defer prov.Stop()
	reqs, err := podRequests(h.seeded, "ha-"+mode, addr, h.opts.pods)
	if err != nil {
		return nil, err
	}
	t := &tally{problems: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Go(func() { mountLoop(ctx, prov.Client, req, h.checker, t, stop) })
	}
	stopPods := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopPods()

	wctx, cancel := context.WithTimeoutCause(ctx, 30*time.Second, fmt.Errorf("pods not all mounted once after 30s"))
	err = waitMounts(wctx, t, len(reqs))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w\nprovider log:\n%s", err, prov.LogTail())
	}
	start := time.Now()
	h.monitor.reset()
	faults, err := h.scenario(ctx, mode == modeFront)
	stopPods()
	end := time.Now()
	if err != nil {
		return nil, err
	}
	res := &result{mode: mode, t: t, faults: faults, pods: len(reqs),
		x: t.longestGap(start, end), y: h.monitor.longestOutage()}
	for _, f := range faults {
		res.rates = append(res.rates, [2]float64{h.rate(f.from, f.to), h.rate(f.to, f.to.Add(afterFault))})
	}
	if !prov.Alive() {
		res.restarted = fmt.Sprintf("pid %d exited", prov.PID())
	}
	if res.logins, err = logins(ctx, prov.MetricsURL); err != nil {
		return nil, err
	}
	return res, nil
}

// waitMounts waits until the pods have made n right mounts.
func waitMounts(ctx context.Context, t *tally, n int) error {
	for {
		t.mu.Lock()
		done := len(t.successes) >= n
		t.mu.Unlock()
		if done {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return context.Cause(ctx)
		}
	}
}

// report prints the run's figures, its summary line and its verdicts, and
// returns the targets it missed that fail the run.
func (r *result) report(o *options) []string {
	for i, f := range r.faults {
		fmt.Printf("   %-52s %5.1f s: %6.1f req/s reached Vault; %6.1f req/s in the 2 s after\n",
			f.name, f.to.Sub(f.from).Seconds(), r.rates[i][0], r.rates[i][1])
	}
	for _, p := range slices.Sorted(maps.Keys(r.t.problems)) {
		fmt.Printf("   %5d × %s\n", r.t.problems[p], p)
	}
	fmt.Printf("ha: %d mounts, %d failed, %d wrong, longest outage %.1f s (Vault without an active node %.1f s) [%s]\n",
		r.t.mounts, r.t.failed, r.t.wrong, r.x.Seconds(), r.y.Seconds(), r.mode)
	var missed []string
	verdict := func(name string, ok, fails bool, detail string) string {
		if ok {
			return name + ": met" + detail
		}
		if fails {
			missed = append(missed, fmt.Sprintf("[%s] %s%s", r.mode, name, detail))
		}
		return name + ": MISSED" + detail
	}
	perPod := r.logins / float64(r.pods)
	timeOK := r.x <= r.y+time.Second
	fmt.Printf("   [%s] %s; %s; %s; %s; %s\n", r.mode,
		verdict("0 wrong", r.t.wrong == 0, true, ""),
		verdict("X ≤ Y + 1 s", timeOK, o.strict, fmt.Sprintf(" (%.1f ≤ %.1f)", r.x.Seconds(), (r.y+time.Second).Seconds())),
		verdict("no provider restart", r.restarted == "", true, parens(r.restarted)),
		verdict("logins per pod 1", perPod <= 1, true, fmt.Sprintf(" (%.0f logins, %d pods)", r.logins, r.pods)),
		verdict(fmt.Sprintf("at least %d mounts", o.minMounts), r.t.mounts >= o.minMounts, true, ""))
	return missed
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
