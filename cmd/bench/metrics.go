package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Provider metric names the bench reads.
const (
	mVaultRequests = "vault_csi_provider_vault_requests_total"
	mLogins        = "vault_csi_provider_logins_total"
	mLeases        = "vault_csi_provider_leases_total"
	mCertificates  = "vault_csi_provider_certificates_total"
	mMounts        = "vault_csi_provider_mounts_total"
	mInFlight      = "vault_csi_provider_vault_requests_in_flight"
	mTokenCache    = "vault_csi_provider_token_cache_size"
	mLeaseCache    = "vault_csi_provider_lease_cache_size"
	mGoroutines    = "go_goroutines"
)

// series is one sample of the Prometheus text format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// snapshot is one scrape of /metrics; nil when the provider serves none.
type snapshot []series

// sum adds the samples of name whose labels include the pairs in match
// (key, value, key, value…). NaN for a nil snapshot: "n/a" in the report.
func (s snapshot) sum(name string, match ...string) float64 {
	if s == nil {
		return math.NaN()
	}
	total := 0.0
next:
	for _, x := range s {
		if x.name != name {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			if x.labels[match[i]] != match[i+1] {
				continue next
			}
		}
		total += x.value
	}
	return total
}

// scraper reads the provider's /metrics; url "" means none is served.
type scraper struct {
	url    string
	client *http.Client
}

func newScraper(url string) *scraper {
	return &scraper{url: url, client: &http.Client{Timeout: 2 * time.Second}}
}

// scrape returns nil, not an error, when there is nothing to scrape, so
// that a provider without metrics still gets its latency measured.
func (s *scraper) scrape(ctx context.Context) snapshot {
	if s.url == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	snap, err := parseText(resp.Body)
	if err != nil {
		return nil
	}
	return snap
}

// sampleMax scrapes every interval until stop is called, and returns from
// stop the largest value of the gauge name seen (NaN if never seen).
func (s *scraper) sampleMax(ctx context.Context, name string, interval time.Duration) (stop func() (max float64, samples int)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	peak, n := math.NaN(), 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if v := s.scrape(ctx).sum(name); !math.IsNaN(v) {
				n++
				if math.IsNaN(peak) || v > peak {
					peak = v
				}
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() (float64, int) {
		close(done)
		wg.Wait()
		return peak, n
	}
}

// parseText reads the Prometheus text exposition format with
// prometheus/common's parser. Counters, gauges and untyped samples keep
// their names; histograms and summaries give their _sum and _count.
func parseText(r io.Reader) (snapshot, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	snap := snapshot{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			add := func(n string, v float64) { snap = append(snap, series{name: n, labels: labels, value: v}) }
			switch {
			case m.Counter != nil:
				add(name, m.GetCounter().GetValue())
			case m.Gauge != nil:
				add(name, m.GetGauge().GetValue())
			case m.Untyped != nil:
				add(name, m.GetUntyped().GetValue())
			case m.Histogram != nil:
				add(name+"_sum", m.GetHistogram().GetSampleSum())
				add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
			case m.Summary != nil:
				add(name+"_sum", m.GetSummary().GetSampleSum())
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
			}
		}
	}
	return snap, nil
}
