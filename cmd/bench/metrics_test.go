package main

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// TestScrapeProviderMetrics reads what the provider's metrics handler
// serves, so the parser and the metric names stay in step with it.
func TestScrapeProviderMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.VaultRequests.WithLabelValues("read", "200").Add(3)
	m.VaultRequests.WithLabelValues("login", "200").Inc()
	m.Logins.WithLabelValues("ok").Inc()
	m.Leases.WithLabelValues("created").Add(2)
	m.Leases.WithLabelValues("reused").Add(5)
	m.Certificates.WithLabelValues("issued").Add(4)
	m.Certificates.WithLabelValues("reissued").Inc()
	m.Certificates.WithLabelValues("reused").Add(6)
	m.VaultRequestsInFlight.Set(7)
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()

	snap := newScraper(srv.URL).scrape(context.Background())
	for _, tc := range []struct {
		name  string
		match []string
		want  float64
	}{
		{mVaultRequests, nil, 4},
		{mVaultRequests, []string{"operation", "read"}, 3},
		{mLogins, nil, 1},
		{mLeases, []string{"event", "created"}, 2},
		{mCertificates, []string{"event", "issued"}, 4},
		{mCertificates, []string{"event", "reissued"}, 1},
		{mCertificates, []string{"event", "reused"}, 6},
		{mInFlight, nil, 7},
		{mMounts, nil, 0},
	} {
		if got := snap.sum(tc.name, tc.match...); got != tc.want {
			t.Errorf("sum(%s, %v) = %v, want %v", tc.name, tc.match, got, tc.want)
		}
	}
	if g := snap.sum(mGoroutines); !(g > 0) {
		t.Errorf("go_goroutines = %v, want > 0", g)
	}
	peak, n := newScraper(srv.URL).sampleMax(context.Background(), mInFlight, time.Millisecond)()
	if peak != 7 || n < 1 {
		t.Errorf("sampleMax = %v after %d samples, want 7", peak, n)
	}
}

func TestNoMetricsIsNaN(t *testing.T) {
	if v := newScraper("").scrape(context.Background()).sum(mLogins); !math.IsNaN(v) {
		t.Errorf("sum without metrics = %v, want NaN", v)
	}
	if s := f2(math.NaN()); s != "n/a" {
		t.Errorf("f2(NaN) = %q", s)
	}
}

func TestParseTextEscapes(t *testing.T) {
	snap, err := parseText(strings.NewReader(`# HELP x y
x{a="q\"uo,te}",b="back\\slash"} 1.5 1700000000000
x 2
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != 2 || snap[0].labels["a"] != `q"uo,te}` || snap[0].labels["b"] != `back\slash` || snap.sum("x") != 3.5 {
		t.Errorf("parsed %+v", snap)
	}
}
