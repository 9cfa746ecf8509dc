package main

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
)

const (
	// budgetDeadline is each Mount's deadline in TestBudgetAttacks; the
	// answer may come at most budgetGrace after it.
	budgetDeadline = 10 * time.Second
	budgetGrace    = time.Second
	// budgetPeakMiB bounds the provider's peak RSS (VmHWM) under an attack.
	budgetPeakMiB = 200
	// budgetGuardMiB kills a provider that is past the bound anyway, before
	// it takes the shared machine's memory.
	budgetGuardMiB = 512
)

// namesLimit is a refusal that names the limit: the mount's budget flags,
// the node's, a per-feature flag, or the word.
var namesLimit = regexp.MustCompile(`-max-mount-memory|-max-mount-work|-max-memory|-max-[a-z-]+|\blimit\b`)

// TestBudgetAttacks runs each budget attack against a fresh provider binary
// with its default flags, through its socket, as the driver does. The
// provider must refuse it with ResourceExhausted or InvalidArgument naming
// a limit, within the Mount's deadline and under budgetPeakMiB of RSS; the
// pods of kept-leases may instead all mount, within the same bounds; the
// crowd's other namespace must mount meanwhile.
func TestBudgetAttacks(t *testing.T) {
	bin := providerBinaryT(t)
	h, err := startHostileEnv()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	dir := t.TempDir()
	lim := hostileLimits{deadline: budgetDeadline, wait: budgetDeadline + 5*time.Second, guardMiB: budgetGuardMiB}
	for _, c := range budgetCases {
		t.Run(c.name, func(t *testing.T) {
			r, err := runHostileCase(context.Background(), bin, dir, h, c, lim)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s)", r, c.about)
			switch {
			case r.killed:
				t.Fatalf("the provider passed %d MiB of RSS and was killed after %.2f s", budgetGuardMiB, r.elapsed.Seconds())
			case !r.answered:
				t.Fatalf("no answer %s after the Mount", r.elapsed)
			}
			if r.elapsed > budgetDeadline+budgetGrace {
				t.Errorf("answered after %.2f s, past the Mount's deadline of %s", r.elapsed.Seconds(), budgetDeadline)
			}
			if r.peakMiB >= budgetPeakMiB {
				t.Errorf("peak RSS %.1f MiB, want under %d MiB", r.peakMiB, budgetPeakMiB)
			}
			code, msg := status.Code(r.err), status.Convert(r.err).Message()
			switch {
			case c.crowd > 0:
				if code != codes.OK {
					t.Errorf("the other namespace's mount: %s: %s, want OK", code, msg)
				}
				return
			case c.pods > 1 && code == codes.OK:
				return // the leases were let go, or fit
			}
			if code != codes.ResourceExhausted && code != codes.InvalidArgument {
				t.Errorf("code %s, want ResourceExhausted or InvalidArgument: %s", code, msg)
			} else if !namesLimit.MatchString(msg) {
				t.Errorf("message names no limit or flag: %s", msg)
			}
		})
	}
}

// providerBinaryT returns the provider binary (csitest.ProviderBinary), or
// skips the test without one (fails it in CI).
func providerBinaryT(t *testing.T) string {
	t.Helper()
	bin, err := csitest.ProviderBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("provider binary required in CI (make build): %v", err)
		}
		t.Skipf("skipping: %v (make build)", err)
	}
	return bin
}

// TestBudgetClasses checks the attacks' own sizes, so that each stays
// within every limit of a single feature and only the budget can stop it.
func TestBudgetClasses(t *testing.T) {
	h := &hostileEnv{vault: &hostileVault{addr: "127.0.0.1:1"}}
	for _, c := range budgetCases {
		plan, err := c.plan(h)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, req := range append(plan.attack, plan.bystander) {
			if req != nil && len(req.Attributes) > 1<<20 {
				t.Errorf("%s: attributes of %d bytes, over -max-attributes-bytes", c.name, len(req.Attributes))
			}
		}
	}
	for name, body := range map[string][]byte{"tiny": tinyBody(), "keys": keysBody(), "digits": digitsBody(), "mib": mibBody()} {
		if len(body) >= 8<<20 {
			t.Errorf("%s body of %d bytes, not under the provider's 8 MiB", name, len(body))
		}
	}
	if n := len(headerBlock()); n >= 10<<20-100 {
		t.Errorf("header block of %d bytes, not under Go's 10 MiB", n)
	}
}
