package lease

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// t0 is when the fake clock starts; offsets in the tests are from it.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the cache's clock, moved by the test (never concurrently
// with the cache's use of it).
type fakeClock struct{ now time.Time }

func (f *fakeClock) at(offset time.Duration) { f.now = t0.Add(offset) }

// newTestCache returns a cache with the default bounds on a fake clock at
// t0, with its metrics.
func newTestCache(t *testing.T) (*Cache, *metrics.Metrics, *fakeClock) {
	t.Helper()
	return newBoundedCache(t, Options{})
}

// newBoundedCache is newTestCache with the bounds of o.
func newBoundedCache(t *testing.T, o Options) (*Cache, *metrics.Metrics, *fakeClock) {
	t.Helper()
	m := metrics.NewUnregistered()
	o.Metrics = m
	c := New(o)
	clk := &fakeClock{now: t0}
	c.now = func() time.Time { return clk.now }
	return c, m, clk
}

func leased(seconds int, renewable bool) *api.Secret {
	return &api.Secret{
		LeaseID:       "database/creds/app/abc123",
		LeaseDuration: seconds,
		Renewable:     renewable,
		Data:          map[string]any{"username": "v-app-1", "password": "p4ss"},
	}
}

func key(pod, request string) Key {
	return Key{PodUID: pod, Identity: Identity{Vault: vault.Config{Address: "https://vault.test:8200"}, Request: request}}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

// counts is what the cache's metrics say.
type counts struct {
	created, reused, renewed, expired, size float64
}

func checkMetrics(t *testing.T, m *metrics.Metrics, want counts) {
	t.Helper()
	got := counts{
		created: testutil.ToFloat64(m.Leases.WithLabelValues("created")),
		reused:  testutil.ToFloat64(m.Leases.WithLabelValues("reused")),
		renewed: testutil.ToFloat64(m.Leases.WithLabelValues("renewed")),
		expired: testutil.ToFloat64(m.Leases.WithLabelValues("expired")),
		size:    testutil.ToFloat64(m.LeaseCacheSize),
	}
	if got != want {
		t.Errorf("metrics = %+v, want %+v", got, want)
	}
}

func TestKept(t *testing.T) {
	tests := []struct {
		name   string
		secret *api.Secret
		want   bool
	}{
		{name: "nil", secret: nil},
		{name: "static KV secret", secret: &api.Secret{Data: map[string]any{"k": "v"}}},
		{name: "KV v1 ttl without lease id", secret: &api.Secret{LeaseDuration: 3600, Data: map[string]any{"k": "v"}}},
		{name: "lease id with zero duration", secret: &api.Secret{LeaseID: "pki/issue/web/x", LeaseDuration: 0}},
		{name: "leased", secret: leased(90, false), want: true},
		{name: "leased and renewable", secret: leased(90, true), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Kept(tt.secret); got != tt.want {
				t.Errorf("Kept = %t, want %t", got, tt.want)
			}
		})
	}
}

// TestGet covers the state of an entry over its life. The lease is 90s, so
// Fresh ends at 60s.
func TestGet(t *testing.T) {
	tests := []struct {
		name      string
		renewable bool
		tokenEnd  time.Duration // from t0; 0: the token does not expire
		at        time.Duration
		want      State
	}{
		{name: "fresh at once", at: 0, want: Fresh},
		{name: "fresh just before two thirds", at: sec(60) - time.Nanosecond, want: Fresh},
		{name: "renewable at two thirds", renewable: true, at: sec(60), want: Renew},
		{name: "renewable just before the end", renewable: true, at: sec(90) - time.Nanosecond, want: Renew},
		{name: "renewable at the end", renewable: true, at: sec(90), want: Missing},
		{name: "renewable long after", renewable: true, at: time.Hour, want: Missing},
		{name: "not renewable just before two thirds", at: sec(59), want: Fresh},
		{name: "not renewable at two thirds", at: sec(60), want: Missing},

		// A token ending at 30s caps the validity at 30s: Fresh ends at 20s.
		{name: "token end: fresh", renewable: true, tokenEnd: sec(30), at: sec(19), want: Fresh},
		{name: "token end: renew", renewable: true, tokenEnd: sec(30), at: sec(20), want: Renew},
		{name: "token end: not renewable", tokenEnd: sec(30), at: sec(20), want: Missing},
		{name: "token end: past it", renewable: true, tokenEnd: sec(30), at: sec(30), want: Missing},
		// A token outliving the lease changes nothing.
		{name: "later token end: fresh", renewable: true, tokenEnd: sec(120), at: sec(59), want: Fresh},
		{name: "later token end: renew", renewable: true, tokenEnd: sec(120), at: sec(89), want: Renew},
		{name: "later token end: lease end", renewable: true, tokenEnd: sec(120), at: sec(90), want: Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m, clk := newTestCache(t)
			k := key("pod-1", "GET database/creds/app")
			s := leased(90, tt.renewable)
			var tokenEnd time.Time
			if tt.tokenEnd != 0 {
				tokenEnd = t0.Add(tt.tokenEnd)
			}
			c.Put(k, s, "hvs.token-1", tokenEnd)
			checkMetrics(t, m, counts{created: 1, size: 1})

			clk.at(tt.at)
			e, got := c.Get(k, Policy{})
			if got != tt.want {
				t.Fatalf("Get at %v = %v, want %v", tt.at, got, tt.want)
			}
			switch tt.want {
			case Missing:
				if e != nil || c.Len() != 0 {
					t.Errorf("Get = %+v with %d kept, want the entry dropped", e, c.Len())
				}
				checkMetrics(t, m, counts{created: 1, expired: 1})
				// Already dropped: a second look counts nothing more.
				if _, again := c.Get(k, Policy{}); again != Missing {
					t.Errorf("second Get = %v, want Missing", again)
				}
				checkMetrics(t, m, counts{created: 1, expired: 1})
			case Fresh, Renew:
				if e == nil || e.Secret != s || e.Token != "hvs.token-1" || e.Vault != k.Vault {
					t.Errorf("Get = %+v, want the entry put", e)
				}
				reused := 0.0
				if tt.want == Fresh {
					reused = 1
				}
				checkMetrics(t, m, counts{created: 1, reused: reused, size: 1})
			}
		})
	}
}

func TestGetUnknownKey(t *testing.T) {
	c, m, _ := newTestCache(t)
	c.Put(key("pod-1", "a"), leased(90, true), "tok", time.Time{})
	for _, k := range []Key{key("pod-2", "a"), key("pod-1", "b"), {PodUID: "pod-1", Identity: Identity{Request: "a"}}} {
		if e, st := c.Get(k, Policy{}); st != Missing || e != nil {
			t.Errorf("Get(%+v) = %+v, %v, want Missing", k, e, st)
		}
	}
	checkMetrics(t, m, counts{created: 1, size: 1})
}

func TestPutReplaces(t *testing.T) {
	c, m, clk := newTestCache(t)
	k := key("pod-1", "a")
	c.Put(k, leased(90, false), "tok-1", time.Time{})
	clk.at(sec(80))
	second := leased(90, false)
	c.Put(k, second, "tok-2", time.Time{})
	// The new entry's validity starts now: Fresh until 80s+60s.
	clk.at(sec(139))
	e, st := c.Get(k, Policy{})
	if st != Fresh || e.Secret != second || e.Token != "tok-2" {
		t.Fatalf("Get = %+v, %v, want the second secret, Fresh", e, st)
	}
	checkMetrics(t, m, counts{created: 2, reused: 1, size: 1})
}

// TestRenewed: a 90s lease put at t0 is renewed at 60s (two thirds in).
func TestRenewed(t *testing.T) {
	type look struct {
		at   time.Duration
		want State
	}
	tests := []struct {
		name      string
		tokenEnd  time.Duration // from t0; 0: none
		ttl       time.Duration // granted by the renewal
		renewable bool          // as the renewal says
		wantOK    bool
		looks     []look // in order, after the renewal
	}{
		{
			name: "full renewal", ttl: sec(90), renewable: true, wantOK: true,
			// obtained moved to 60s: Fresh until 120s, Renew until 150s.
			looks: []look{{sec(60), Fresh}, {sec(120) - time.Nanosecond, Fresh}, {sec(120), Renew}, {sec(149), Renew}, {sec(150), Missing}},
		},
		{
			name: "exactly a third", ttl: sec(30), renewable: true, wantOK: true,
			looks: []look{{sec(79), Fresh}, {sec(80), Renew}, {sec(90), Missing}},
		},
		{name: "less than a third", ttl: sec(30) - time.Nanosecond, renewable: true, looks: []look{{sec(60), Missing}}},
		{name: "nothing granted", ttl: 0, looks: []look{{sec(60), Missing}}},
		{
			name: "no longer renewable", ttl: sec(90), renewable: false, wantOK: true,
			looks: []look{{sec(119), Fresh}, {sec(120), Missing}},
		},
		{
			// Validity 90s (the token outlives the lease); the renewal is
			// capped at 100s: 40s left, enough. Fresh until 60+26.67s.
			name: "capped by the token, enough left", tokenEnd: sec(100), ttl: sec(90), renewable: true, wantOK: true,
			looks: []look{{sec(86), Fresh}, {sec(87), Renew}, {sec(99), Renew}, {sec(100), Missing}},
		},
		{
			// Validity 80s; the renewal is capped at 80s: 20s left, less
			// than 80s/3.
			name: "capped by the token, too little left", tokenEnd: sec(80), ttl: sec(90), renewable: true,
			looks: []look{{sec(60), Missing}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m, clk := newTestCache(t)
			k := key("pod-1", "GET database/creds/app")
			s := leased(90, true)
			var tokenEnd time.Time
			if tt.tokenEnd != 0 {
				tokenEnd = t0.Add(tt.tokenEnd)
			}
			c.Put(k, s, "tok", tokenEnd)
			clk.at(sec(60))
			if _, st := c.Get(k, Policy{}); st != Renew {
				t.Fatalf("Get before renewing = %v, want Renew", st)
			}

			if got := c.Renewed(k, tt.ttl, tt.renewable); got != tt.wantOK {
				t.Fatalf("Renewed = %t, want %t", got, tt.wantOK)
			}
			if tt.wantOK {
				checkMetrics(t, m, counts{created: 1, renewed: 1, size: 1})
			} else {
				checkMetrics(t, m, counts{created: 1, expired: 1})
			}
			for _, l := range tt.looks {
				clk.at(l.at)
				if _, st := c.Get(k, Policy{}); st != l.want {
					t.Errorf("Get at %v = %v, want %v", l.at, st, l.want)
				}
			}
		})
	}
}

// TestRenewedAgainstOriginalValidity: the "less than a third" rule is
// measured against the validity the secret was put with, not the last
// renewal's, or a lease nearing its max TTL would be renewed again and
// again with ever less time left.
func TestRenewedAgainstOriginalValidity(t *testing.T) {
	c, _, clk := newTestCache(t)
	k := key("pod-1", "a")
	c.Put(k, leased(90, true), "tok", time.Time{})
	clk.at(sec(60))
	if !c.Renewed(k, sec(60), true) { // until 120s
		t.Fatal("first renewal (60s of 90s) refused")
	}
	clk.at(sec(100)) // two thirds into the renewed 60s
	if _, st := c.Get(k, Policy{}); st != Renew {
		t.Fatalf("Get = %v, want Renew", st)
	}
	if c.Renewed(k, sec(25), true) {
		t.Error("second renewal granting 25s (less than a third of 90s) was accepted")
	}
	if c.Len() != 0 {
		t.Errorf("%d entries kept, want the refused one dropped", c.Len())
	}
}

func TestRenewedMissingKey(t *testing.T) {
	c, m, _ := newTestCache(t)
	c.Put(key("pod-1", "a"), leased(90, true), "tok", time.Time{})
	if c.Renewed(key("pod-1", "b"), time.Hour, true) {
		t.Error("Renewed on a key never put = true")
	}
	c.Drop(key("pod-1", "a"))
	if c.Renewed(key("pod-1", "a"), time.Hour, true) {
		t.Error("Renewed on a dropped key = true")
	}
	checkMetrics(t, m, counts{created: 1, expired: 1})
}

func TestForgetPod(t *testing.T) {
	c, m, _ := newTestCache(t)
	other := vault.Config{Address: "https://other.test:8200"}
	a1, a2 := key("pod-a", "r1"), Key{PodUID: "pod-a", Identity: Identity{Vault: other, Request: "r1"}}
	b1 := key("pod-b", "r1")
	c.Put(a1, leased(90, true), "tok-a1", time.Time{})
	c.Put(a2, leased(90, true), "tok-a2", time.Time{})
	c.Put(b1, leased(90, true), "tok-b1", time.Time{})

	got := c.ForgetPod("pod-a")
	var tokens []string
	for _, e := range got {
		tokens = append(tokens, e.Token+"@"+e.Vault.Address)
	}
	slices.Sort(tokens)
	want := []string{"tok-a1@https://vault.test:8200", "tok-a2@https://other.test:8200"}
	if !slices.Equal(tokens, want) {
		t.Errorf("ForgetPod returned %q, want %q", tokens, want)
	}
	for _, k := range []Key{a1, a2} {
		if _, st := c.Get(k, Policy{}); st != Missing {
			t.Errorf("Get(%+v) after ForgetPod = %v, want Missing", k, st)
		}
	}
	if e, st := c.Get(b1, Policy{}); st != Fresh || e.Token != "tok-b1" {
		t.Errorf("other pod's entry: Get = %+v, %v, want Fresh", e, st)
	}
	// Revocation is counted by the caller, not as expiry.
	checkMetrics(t, m, counts{created: 3, reused: 1, size: 1})

	if got := c.ForgetPod("pod-a"); len(got) != 0 {
		t.Errorf("second ForgetPod = %d entries, want none", len(got))
	}
	if got := c.ForgetPod("no-such-pod"); len(got) != 0 {
		t.Errorf("ForgetPod of an unknown pod = %d entries, want none", len(got))
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

func TestPodUIDs(t *testing.T) {
	c, _, _ := newTestCache(t)
	if got := c.PodUIDs(); len(got) != 0 {
		t.Errorf("empty cache: PodUIDs = %q", got)
	}
	for _, k := range []Key{key("pod-a", "r1"), key("pod-a", "r2"), key("pod-b", "r1"), key("pod-c", "r1")} {
		c.Put(k, leased(90, true), "tok", time.Time{})
	}
	c.ForgetPod("pod-c")
	got := c.PodUIDs()
	slices.Sort(got)
	if want := []string{"pod-a", "pod-b"}; !slices.Equal(got, want) {
		t.Errorf("PodUIDs = %q, want %q", got, want)
	}
}

// TestSweep: expired entries nobody asks for again are dropped by the
// first Put a minute or more after the previous sweep, and only then.
func TestSweep(t *testing.T) {
	c, m, clk := newTestCache(t)
	put := func(at time.Duration, name string, lease int, renewable bool) {
		clk.at(at)
		c.Put(key(name, "r"), leased(lease, renewable), "tok", time.Time{})
	}
	kept := func() []string {
		uids := c.PodUIDs()
		slices.Sort(uids)
		return uids
	}

	put(0, "a", 10, true) // sweeps the empty cache; next sweep at 60s
	put(sec(30), "b", 10, true)
	put(sec(59), "c", 10, true)
	if got, want := kept(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("before a minute: kept %q, want %q (no sweep yet)", got, want)
	}
	checkMetrics(t, m, counts{created: 3, size: 3})

	// At 60s: a (ended 10s) and b (ended 40s) go; c (ends 69s) stays.
	put(sec(60), "d", 90, false)
	if got, want := kept(), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("at a minute: kept %q, want %q", got, want)
	}
	checkMetrics(t, m, counts{created: 4, expired: 2, size: 2})

	// Next sweep at 120s: c (ended 69s) survives a Put at 119s.
	put(sec(119), "e", 10, true)
	if got, want := kept(), []string{"c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("before the second minute: kept %q, want %q", got, want)
	}
	// At 120s c goes; d, two thirds in and not renewable, is of no use
	// but not expired (ends 150s), so the sweep leaves it to Get.
	put(sec(120), "f", 10, true)
	if got, want := kept(), []string{"d", "e", "f"}; !slices.Equal(got, want) {
		t.Fatalf("at the second minute: kept %q, want %q", got, want)
	}
	checkMetrics(t, m, counts{created: 6, expired: 3, size: 3})
}

// TestConcurrent is meant for -race: many goroutines use overlapping keys,
// in bounds that drop entries all along.
func TestConcurrent(t *testing.T) {
	m := metrics.NewUnregistered()
	u := unit(t)
	c := New(Options{MaxBytesPerPod: 2 * u, MaxBytes: 6 * u, Metrics: m}) // real clock; leases long enough to stay Fresh
	const workers, rounds = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				pod := fmt.Sprintf("pod-%d", (w+i)%5)
				k := key(pod, fmt.Sprintf("r%d", i%3))
				c.Put(k, leased(3600, true), "tok", time.Now().Add(time.Hour))
				if e, st := c.Get(k, Policy{}); st == Fresh && e.Secret.LeaseID == "" {
					t.Error("fresh entry without a lease id")
				}
				c.Renewed(k, time.Hour, true)
				switch i % 10 {
				case 3:
					for _, e := range c.ForgetPod(pod) {
						_ = e.Token
					}
				case 7:
					c.Drop(k)
				}
				_ = c.PodUIDs()
				_ = c.Len()
			}
		}()
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.Leases.WithLabelValues("created")); got != workers*rounds {
		t.Errorf("created = %v, want %d", got, workers*rounds)
	}
	if got, n := testutil.ToFloat64(m.LeaseCacheSize), c.Len(); got != float64(n) {
		t.Errorf("lease_cache_size = %v, but %d entries kept", got, n)
	}
	if got := testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues("pod_limit")) + testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues("node_limit")); got == 0 {
		t.Error("no entry dropped for the bounds: the test did not reach them")
	}
	checkBounds(t, c, m)
}

// TestKeySeparatesTenantsOfOnePodUID: the sync controller sends its own
// pod's UID for the SecretSyncs of every namespace. A lease kept for one
// namespace or service account must not be found for another, although
// the pod UID, role, auth mount, audience, Vault and request are equal.
func TestKeySeparatesTenantsOfOnePodUID(t *testing.T) {
	const controller = "5f1c1e0a-0000-4000-8000-000000000001"
	tenant := func(ns, sa string) Key {
		k := key(controller, "GET database/creds/app")
		k.Namespace, k.ServiceAccount, k.Role, k.AuthMount, k.Audience = ns, sa, "app", "kubernetes", "vault"
		return k
	}
	c, m, _ := newTestCache(t)
	c.Put(tenant("shop", "app"), leased(90, true), "hvs.shop", time.Time{})
	for _, k := range []Key{tenant("rival", "app"), tenant("shop", "other"), tenant("rival", "other"), tenant("", "app")} {
		if e, st := c.Get(k, Policy{}); st != Missing || e != nil {
			t.Errorf("Get(namespace %q, service account %q) = %+v, %v, want Missing", k.Namespace, k.ServiceAccount, e, st)
		}
	}
	if e, st := c.Get(tenant("shop", "app"), Policy{}); st != Fresh || e.Token != "hvs.shop" {
		t.Errorf("Get(the tenant that put it) = %+v, %v, want it Fresh", e, st)
	}
	checkMetrics(t, m, counts{created: 1, reused: 1, size: 1})
}
