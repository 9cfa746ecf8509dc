package main

import (
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{name: "defaults", args: nil},
		{name: "all set", args: []string{"-provider", "p", "-pods", "3", "-min-mounts", "10", "-strict", "-keep"}},
		{name: "no pods", args: []string{"-pods", "0"}, wantErr: true},
		{name: "negative mounts", args: []string{"-min-mounts", "-1"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
		{name: "chaos", args: []string{"-scenario", "chaos", "-vault-down", "30s"}},
		{name: "unknown scenario", args: []string{"-scenario", "storm"}, wantErr: true},
		{name: "chaos with too few pods", args: []string{"-scenario", "chaos", "-pods", "4"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseFlags(tc.args); (err != nil) != tc.wantErr {
				t.Errorf("parseFlags(%q) error %v, want error %v", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestLongestGap(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name      string
		successes []time.Time
		end       time.Time
		want      time.Duration
	}{
		{name: "none", end: at(1000), want: time.Second},
		{name: "gap in the middle, out of order", successes: []time.Time{at(900), at(100), at(200)}, end: at(1000), want: 700 * time.Millisecond},
		{name: "gap at the end", successes: []time.Time{at(100), at(200)}, end: at(1000), want: 800 * time.Millisecond},
		{name: "outside the window ignored", successes: []time.Time{at(-500), at(400), at(1500)}, end: at(1000), want: 600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &tally{successes: tc.successes}
			if got := tl.longestGap(start, tc.end); got != tc.want {
				t.Errorf("longestGap = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tp := &tap{counts: map[int64]int{100: 10, 101: 20}}
	h := &harness{taps: []*tap{tp, {counts: map[int64]int{101: 20}}}}
	sec := func(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }
	for _, tc := range []struct {
		from, to float64
		want     float64
	}{
		{100, 101, 10},
		{100, 102, 25},
		{100.5, 101.5, 25}, // half of 10, half of 40
		{101, 101, 0},
	} {
		if got := h.rate(sec(tc.from), sec(tc.to)); got != tc.want {
			t.Errorf("rate(%v, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}
