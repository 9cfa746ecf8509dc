package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
)

// printf prints one indented line of a scenario's report.
func printf(format string, args ...any) { fmt.Printf("  "+format+"\n", args...) }

// machineLine is the one-line summary that goes with every set of figures.
func machineLine(providerVersion, vaultVersion, pgVersion string) string {
	return fmt.Sprintf("machine: cpu=%q cores=%d go=%s os=%s/%s vault=%s postgres=%s provider=%q",
		cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		vaultVersion, pgVersion, providerVersion)
}

func printHeader(sc scenario, files int, notes []string) {
	conc := fmt.Sprint(sc.concurrency)
	if sc.concurrency <= 0 || sc.concurrency >= sc.pods {
		conc = fmt.Sprintf("%d (all at once)", sc.pods)
	}
	fmt.Printf("\n== %s: %s; files per mount %d, pods %d, republish rounds %d, concurrency %s\n",
		sc.name, sc.about, files, sc.pods, sc.rounds, conc)
	for _, n := range notes {
		printf("%s", n)
	}
}

// Column layout of the phase table.
var columns = []struct {
	title string
	width int
}{
	{"phase", -14}, {"mounts", 7}, {"mounts/s", 9}, {"p50 ms", 8}, {"p90 ms", 8}, {"p99 ms", 8},
	{"vault req/mount", 16}, {"logins/mount", 13}, {"new leases/mount", 17}, {"RSS MiB", 8}, {"goroutines", 11},
}

func printTableHeader() {
	cells := make([]string, len(columns))
	for i, c := range columns {
		cells[i] = c.title
	}
	printCells(cells)
}

func printRow(p *phase) {
	printCells([]string{
		p.name,
		fmt.Sprint(p.mounts),
		f1(p.rate()),
		f2(p.lat.pct(50)), f2(p.lat.pct(90)), f2(p.lat.pct(99)),
		f2(perMount(p.delta(mVaultRequests), p.mounts)),
		f2(perMount(p.delta(mLogins), p.mounts)),
		f2(perMount(p.delta(mLeases, "event", "created"), p.mounts)),
		f1(p.rss),
		f0(p.after.sum(mGoroutines)),
	})
}

func printCells(cells []string) {
	var b strings.Builder
	for i, c := range columns {
		fmt.Fprintf(&b, "%*s ", c.width, cells[i])
	}
	printf("%s", strings.TrimRight(b.String(), " "))
}

// printVaultCounts prints, per phase, the net change of Vault's leases:
// login tokens and leased secrets, counted by Vault itself.
func printVaultCounts(r *scenarioResult) {
	var parts []string
	for _, p := range r.phases {
		parts = append(parts, fmt.Sprintf("%s %s logins, %s leases", p.name,
			f2(perMount(float64(p.vaultDelta("logins")), p.mounts)),
			f2(perMount(float64(p.vaultDelta("pki")+p.vaultDelta("database")), p.mounts))))
	}
	printf("Vault's own count per mount (net new leases in sys/leases): %s", strings.Join(parts, "; "))
}

// printFailures prints the gRPC errors of the first failed mounts.
func printFailures(s *session, p *phase) {
	fmt.Fprintf(os.Stderr, "  FAILED: %d of %d mounts in %s\n", len(p.failures), p.mounts, p.name)
	for i, f := range p.failures {
		if i == 5 {
			fmt.Fprintf(os.Stderr, "    … and %d more\n", len(p.failures)-i)
			break
		}
		fmt.Fprintf(os.Stderr, "    pod %s-%04d: %v\n", s.prefix, f.pod, f.err)
	}
	if tail := s.prov.LogTail(); tail != "" {
		fmt.Fprintf(os.Stderr, "  provider log (end):\n%s\n", tail)
	}
}

func f0(v float64) string { return fnum(v, 0) }
func f1(v float64) string { return fnum(v, 1) }
func f2(v float64) string { return fnum(v, 2) }

// fnum formats v with prec decimals, or "n/a" for NaN (no metrics).
func fnum(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}
