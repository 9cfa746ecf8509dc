package lease

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// unit is the size of an entry for key(pod, request) holding leased(...),
// for a pod named "pod-x" and a two-character request; the tests of the
// bounds count in it.
func unit(t *testing.T) int {
	t.Helper()
	u := entryBytes(key("pod-a", "r1"), leased(3600, true), "tok")
	if other := entryBytes(key("pod-b", "r9"), leased(3600, true), "tok"); other != u {
		t.Fatalf("entries of equal shape sized %d and %d", u, other)
	}
	return u
}

// checkBounds checks the cache's books: the bytes kept, by pod and for the
// node, are the sum of the entries' sizes, within the bounds, and the
// gauges say so.
func checkBounds(t *testing.T, c *Cache, m *metrics.Metrics) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	total, listed := 0, 0
	for pk, p := range c.pods {
		uid := pk.uid
		sum := 0
		for el := p.lru.Front(); el != nil; el = el.Next() {
			e := el.Value.(*Entry)
			if e.key.pod() != pk || c.entries[e.key] != e {
				t.Errorf("pod %s lists an entry of %s that the cache does not hold", uid, e.key.PodUID)
			}
			sum += e.size
		}
		if sum != p.bytes || sum > c.maxPod || sum == 0 {
			t.Errorf("pod %s: entries of %d bytes, counted %d, bound %d", uid, sum, p.bytes, c.maxPod)
		}
		total += sum
		listed += p.lru.Len()
	}
	if total != c.bytes || total > c.maxNode || listed != len(c.entries) || c.lru.Len() != len(c.entries) {
		t.Errorf("node: %d bytes in %d pods' entries, counted %d, bound %d; %d entries, %d in the node's list",
			total, listed, c.bytes, c.maxNode, len(c.entries), c.lru.Len())
	}
	if got := testutil.ToFloat64(m.LeaseCacheBytes); got != float64(c.bytes) {
		t.Errorf("lease_cache_bytes = %v, want %d", got, c.bytes)
	}
	if got := testutil.ToFloat64(m.LeaseCacheSize); got != float64(len(c.entries)) {
		t.Errorf("lease_cache_size = %v, want %d", got, len(c.entries))
	}
}

// TestBounds puts entries of one size u in bounds counted in u. Steps are
// "put a1" (a lease for pod-a, request r1), "crt a1" (a certificate),
// "big a1" (a lease larger than the pod's bound) and "get a1" (a use).
func TestBounds(t *testing.T) {
	tests := []struct {
		name         string
		perPod, node int // in entries
		steps        []string
		kept         []string
		dropped      map[string]float64
	}{
		{
			name: "within both", perPod: 3, node: 9,
			steps: []string{"put a1", "put a2", "put a3", "put b1"},
			kept:  []string{"a1", "a2", "a3", "b1"},
		},
		{
			name: "the pod's bound drops its least recently used", perPod: 2, node: 9,
			steps:   []string{"put a1", "put a2", "put b1", "put a3"},
			kept:    []string{"a2", "a3", "b1"},
			dropped: map[string]float64{"pod_limit": 1},
		},
		{
			name: "a use makes an entry recent", perPod: 2, node: 9,
			steps:   []string{"put a1", "put a2", "get a1", "put a3"},
			kept:    []string{"a1", "a3"},
			dropped: map[string]float64{"pod_limit": 1},
		},
		{
			name: "the node's bound drops its least recently used, of any pod", perPod: 3, node: 4,
			steps:   []string{"put a1", "put b1", "put a2", "put b2", "put c1", "get b1", "put c2"},
			kept:    []string{"b1", "b2", "c1", "c2"},
			dropped: map[string]float64{"node_limit": 2},
		},
		{
			// a1 is the pod's oldest, b1 the node's: dropping a1 for the
			// pod's bound leaves room on the node, and b1 stays.
			name: "the pod's bound first, then the node's", perPod: 2, node: 4,
			steps:   []string{"put b1", "put a1", "put a2", "put b2", "put a3"},
			kept:    []string{"a2", "a3", "b1", "b2"},
			dropped: map[string]float64{"pod_limit": 1},
		},
		{
			name: "larger than the pod's bound: not kept, nothing dropped", perPod: 3, node: 9,
			steps:   []string{"put a1", "put b1", "big a2"},
			kept:    []string{"a1", "b1"},
			dropped: map[string]float64{"too_large": 1},
		},
		{
			name: "larger than the pod's bound: the entry it replaces goes", perPod: 3, node: 9,
			steps:   []string{"put a1", "put a2", "big a1"},
			kept:    []string{"a2"},
			dropped: map[string]float64{"too_large": 1},
		},
		{
			name: "a replaced entry makes room", perPod: 2, node: 9,
			steps: []string{"put a1", "put a2", "put a1", "put a2"},
			kept:  []string{"a1", "a2"},
		},
		{
			name: "certificates count and go like leases", perPod: 2, node: 9,
			steps:   []string{"crt a1", "put a2", "put a3", "crt b1"},
			kept:    []string{"a2", "a3", "b1"},
			dropped: map[string]float64{"pod_limit": 1},
		},
	}
	u := unit(t)
	big := leased(3600, true)
	big.Data["blob"] = strings.Repeat("x", 3*u)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m, _ := newBoundedCache(t, Options{MaxBytesPerPod: tt.perPod * u, MaxBytes: tt.node * u})
			for _, step := range tt.steps {
				op, at, _ := strings.Cut(step, " ")
				k := key("pod-"+at[:1], "r"+at[1:])
				switch op {
				case "put":
					c.Put(k, leased(3600, true), "tok", time.Time{})
				case "big":
					c.Put(k, big, "tok", time.Time{})
				case "crt":
					c.PutCertificate(k, leased(3600, true), Validity{Start: t0, End: t0.Add(time.Hour)}, "tok")
				case "get":
					if _, st := c.Get(k, Policy{}); st != Fresh {
						t.Fatalf("%s: %v, want Fresh", step, st)
					}
				}
			}
			var kept []string
			for k := range c.entries {
				kept = append(kept, k.PodUID[len("pod-"):]+k.Request[1:])
			}
			slices.Sort(kept)
			if !slices.Equal(kept, tt.kept) {
				t.Errorf("kept %q, want %q", kept, tt.kept)
			}
			for _, reason := range []string{"too_large", "pod_limit", "node_limit"} {
				if got := testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues(reason)); got != tt.dropped[reason] {
					t.Errorf("dropped for %s: %v, want %v", reason, got, tt.dropped[reason])
				}
			}
			// Left to end at Vault: a lease dropped for size did not expire.
			if got := testutil.ToFloat64(m.Leases.WithLabelValues("expired")); got != 0 {
				t.Errorf("expired = %v, want 0", got)
			}
			if c.bytes != len(tt.kept)*u {
				t.Errorf("%d bytes kept, want %d entries of %d", c.bytes, len(tt.kept), u)
			}
			checkBounds(t, c, m)
		})
	}
}

// TestForgetPodReleasesBytes: a forgotten pod's bytes make room for others.
func TestForgetPodReleasesBytes(t *testing.T) {
	u := unit(t)
	c, m, _ := newBoundedCache(t, Options{MaxBytesPerPod: 2 * u, MaxBytes: 3 * u})
	for _, k := range []Key{key("pod-a", "r1"), key("pod-a", "r2"), key("pod-b", "r1")} {
		c.Put(k, leased(3600, true), "tok", time.Time{})
	}
	if got := len(c.ForgetPod("pod-a")); got != 2 {
		t.Fatalf("ForgetPod returned %d entries, want 2", got)
	}
	checkBounds(t, c, m)
	c.Put(key("pod-c", "r1"), leased(3600, true), "tok", time.Time{})
	c.Put(key("pod-c", "r2"), leased(3600, true), "tok", time.Time{})
	if c.Len() != 3 || c.bytes != 3*u {
		t.Errorf("%d entries of %d bytes kept, want 3 of %d", c.Len(), c.bytes, 3*u)
	}
	if got := testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues("node_limit")); got != 0 {
		t.Errorf("dropped for the node's bound: %v, want 0", got)
	}
	checkBounds(t, c, m)
}

// TestPodBoundIsPerTenant: the SecretSyncs of every namespace come with the
// sync controller's one pod UID; each namespace and service account has its
// own bound, so one tenant's entries never push out another's, and
// ForgetPod drops them all.
func TestPodBoundIsPerTenant(t *testing.T) {
	const controller = "5f1c1e0a-0000-4000-8000-000000000001"
	tenant := func(ns, sa, req string) Key {
		k := key(controller, req)
		k.Namespace, k.ServiceAccount = ns, sa
		return k
	}
	// u here is one tenant's entry: its key is longer than unit's.
	u := entryBytes(tenant("rival", "app", "r1"), leased(3600, true), "tok")
	c, m, _ := newBoundedCache(t, Options{MaxBytesPerPod: 2 * u, MaxBytes: 9 * u})
	shop, shopOther := tenant("shop", "app", "r1"), tenant("shop", "other", "r1")
	c.Put(shop, leased(3600, true), "tok", time.Time{})
	c.Put(shopOther, leased(3600, true), "tok", time.Time{})
	for _, req := range []string{"r1", "r2", "r3", "r4"} {
		c.Put(tenant("rival", "app", req), leased(3600, true), "tok", time.Time{})
	}
	checkBounds(t, c, m)
	for _, k := range []Key{shop, shopOther} {
		if _, st := c.Get(k, Policy{}); st != Fresh {
			t.Errorf("%s/%s's entry after another namespace passed its own bound: %v, want Fresh", k.Namespace, k.ServiceAccount, st)
		}
	}
	if got := testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues("pod_limit")); got != 2 {
		t.Errorf("dropped for the pod's bound: %v, want 2 (rival's own)", got)
	}
	if got := c.PodUIDs(); len(got) != 1 || got[0] != controller {
		t.Errorf("PodUIDs = %q, want the controller's once", got)
	}
	if got := len(c.ForgetPod(controller)); got != 4 {
		t.Errorf("ForgetPod returned %d entries, want every tenant's 4", got)
	}
	checkBounds(t, c, m)
}

// TestDefaultBounds: the zero Options take the defaults, which a 7.5 MiB
// leased read exceeds.
func TestDefaultBounds(t *testing.T) {
	c, m, _ := newTestCache(t)
	if c.maxPod != DefaultMaxBytesPerPod || c.maxNode != DefaultMaxBytes {
		t.Fatalf("bounds %d and %d, want %d and %d", c.maxPod, c.maxNode, DefaultMaxBytesPerPod, DefaultMaxBytes)
	}
	s := &api.Secret{LeaseID: "x/y/z", LeaseDuration: 60, Data: map[string]any{"blob": strings.Repeat("x", 15<<19)}}
	c.Put(key("pod-a", "r1"), s, "tok", time.Time{})
	if c.Len() != 0 || testutil.ToFloat64(m.LeaseCacheDropped.WithLabelValues("too_large")) != 1 {
		t.Errorf("a 7.5 MiB lease: %d kept, want none, counted too large", c.Len())
	}
}
