package main

import (
	"math"
	"slices"
	"time"
)

// latencies summarises a set of durations.
type latencies struct {
	sorted []time.Duration
}

func newLatencies(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	return latencies{sorted: s}
}

// pct returns the p-th percentile (0 < p ≤ 100) by nearest rank, in ms;
// NaN when there is no sample.
func (l latencies) pct(p float64) float64 {
	n := len(l.sorted)
	if n == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(n))) - 1
	i = max(0, min(i, n-1))
	return ms(l.sorted[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// perMount divides a metric delta by the number of mounts (NaN-safe).
func perMount(delta float64, mounts int) float64 {
	if mounts == 0 {
		return math.NaN()
	}
	return delta / float64(mounts)
}
