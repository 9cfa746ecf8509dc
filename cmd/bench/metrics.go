package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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

// parseText reads the Prometheus text exposition format: comment lines
// are skipped, and each sample is `name{k="v",…} value [timestamp]`.
func parseText(r io.Reader) (snapshot, error) {
	snap := snapshot{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		x, err := parseSample(line)
		if err != nil {
			return nil, err
		}
		snap = append(snap, x)
	}
	return snap, sc.Err()
}

func parseSample(line string) (series, error) {
	x := series{labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(line, "{ "); i < 0 {
		return x, fmt.Errorf("metrics: no value in %q", line)
	} else {
		x.name, rest = line[:i], line[i:]
	}
	if strings.HasPrefix(rest, "{") {
		var err error
		if rest, err = parseLabels(rest[1:], x.labels); err != nil {
			return x, fmt.Errorf("metrics: %q: %w", line, err)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return x, fmt.Errorf("metrics: no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return x, fmt.Errorf("metrics: %q: %w", line, err)
	}
	x.value = v
	return x, nil
}

// parseLabels reads `k="v",…}` into labels and returns what follows '}'.
func parseLabels(s string, labels map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		key, after, ok := strings.Cut(s, "=\"")
		if !ok {
			return "", fmt.Errorf("bad label list")
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
				if after[i] == 'n' {
					val.WriteByte('\n')
					continue
				}
			}
			val.WriteByte(after[i])
		}
		if i == len(after) {
			return "", fmt.Errorf("unterminated label value")
		}
		labels[strings.TrimSpace(key)] = val.String()
		s = after[i+1:]
	}
}
