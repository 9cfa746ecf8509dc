package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// The chart's dashboard and alert rules (deployment/helm/vault-csi-provider).
const (
	dashboardFile = "../../deployment/helm/vault-csi-provider/files/dashboard.json"
	alertsFile    = "../../deployment/helm/vault-csi-provider/files/alerts.yaml"
)

// exported maps each series name the provider exports (a histogram's
// _bucket, _sum and _count) to the labels it carries (le for a bucket),
// from the collectors metrics.New registers: the single source of truth.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	var rec recorder
	metrics.New(&rec)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	varLabels := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for _, c := range rec.collectors {
		_, histogram := c.(*prometheus.HistogramVec)
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			name := fqName.FindStringSubmatch(d.String())
			if name == nil || !strings.HasPrefix(name[1], "vault_csi_provider_") {
				continue // the Go and process collectors
			}
			var labels []string
			if l := varLabels.FindStringSubmatch(d.String()); l != nil && l[1] != "" {
				labels = strings.Split(l[1], ",")
			}
			if !histogram {
				out[name[1]] = labels
				continue
			}
			out[name[1]+"_bucket"] = append(slices.Clone(labels), "le")
			out[name[1]+"_sum"] = labels
			out[name[1]+"_count"] = labels
		}
	}
	// Guards the parsing of Desc.String above: an empty or label-less
	// result would let every check below pass.
	if got := out["vault_csi_provider_mounts_total"]; !slices.Equal(got, []string{"code"}) {
		t.Fatalf("parsed vault_csi_provider_mounts_total with labels %q from the registry, want [code]; exported: %v", got, out)
	}
	return out
}

// recorder is a Registerer that keeps what metrics.New registers.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// selector matches a provider series name and the label matchers that
// follow it, if any.
var (
	selector = regexp.MustCompile(`(vault_csi_provider_[a-z_]+)(\{[^}]*\})?`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// constant is a line drawn at a dashboard variable's value (the cap of
	// Vault requests), the one query that names no series.
	constant = regexp.MustCompile(`^vector\(\$[a-z_]+\)$`)
)

// targetLabels are added by the scrape, not the provider; queries may
// select on them.
var targetLabels = []string{"instance", "job", "namespace", "pod", "node", "service", "container", "endpoint"}

// checkExpr reports every provider series expr names that the provider
// does not export, and every label it matches on that the series lacks.
func checkExpr(t *testing.T, where, expr string, known map[string][]string, used map[string]bool) {
	t.Helper()
	found := selector.FindAllStringSubmatch(expr, -1)
	if len(found) == 0 && !constant.MatchString(expr) {
		t.Errorf("%s: no vault_csi_provider_ series in %q", where, expr)
	}
	for _, m := range found {
		labels, ok := known[m[1]]
		if !ok {
			t.Errorf("%s: %s is not exported by internal/metrics (%q)", where, m[1], expr)
			continue
		}
		used[m[1]] = true
		for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(labels, l[1]) && !slices.Contains(targetLabels, l[1]) {
				t.Errorf("%s: %s has no label %q (it has %q)", where, m[1], l[1], labels)
			}
		}
	}
}

// TestDashboardQueriesExportedMetrics: every query of the Grafana dashboard
// names series and labels the provider exports, and every metric the
// provider exports is on the dashboard.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	known := exported(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", filepath.Base(dashboardFile), err)
	}
	used := map[string]bool{}
	exprs := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				exprs++
				checkExpr(t, "panel "+p.Title, tg.Expr, known, used)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if exprs == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, name := range unused(known, used) {
		t.Errorf("%s is exported but on no panel of the dashboard", name)
	}
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	// A collapsed row keeps its panels inside.
	Panels []panel `json:"panels"`
}

// unused lists the exported metrics no query named, counting a histogram
// as used when any of its series is.
func unused(known map[string][]string, used map[string]bool) []string {
	base := func(n string) string {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, s); ok {
				if _, hist := known[b+"_bucket"]; hist {
					return b
				}
			}
		}
		return n
	}
	seen := map[string]bool{}
	for n := range used {
		seen[base(n)] = true
	}
	var out []string
	for n := range known {
		if !seen[base(n)] && !slices.Contains(out, base(n)) {
			out = append(out, base(n))
		}
	}
	sort.Strings(out)
	return out
}

// TestAlertRulesExportedMetrics: every alert's expression names series and
// labels the provider exports. The file is YAML; each expr is a block
// scalar or a one-line value, read without a YAML parser.
func TestAlertRulesExportedMetrics(t *testing.T) {
	known := exported(t)
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	alert := ""
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if name, ok := strings.CutPrefix(line, "- alert: "); ok {
			alert = name
			continue
		}
		v, ok := strings.CutPrefix(line, "expr:")
		if !ok {
			continue
		}
		rules++
		expr := strings.TrimSpace(v)
		if expr == "|" || expr == ">" || expr == "|-" || expr == ">-" {
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" ||
				len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, lines[i])
			}
			expr = strings.Join(block, "\n")
		}
		checkExpr(t, "alert "+alert, expr, known, map[string]bool{})
	}
	if rules == 0 {
		t.Fatal("no expr in the alert rules")
	}
}

// TestDocsNameEveryMetric: docs/metrics.md has a row for every metric the
// provider exports (a row may name several, "`a_total`, `_misses_total`"
// giving the second by its suffix), and none that it does not.
func TestDocsNameEveryMetric(t *testing.T) {
	known := exported(t)
	raw, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for k := range known {
		if base, ok := strings.CutSuffix(k, "_bucket"); ok {
			names[base] = true
		} else if !strings.HasSuffix(k, "_sum") && !strings.HasSuffix(k, "_count") {
			names[k] = true
		}
	}
	cell := regexp.MustCompile("`([a-z_]+)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `vault_csi_provider_") {
			continue
		}
		first := strings.Split(line, "|")[1]
		var prefix string
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			name := m[1]
			if strings.HasPrefix(name, "vault_csi_provider_") {
				prefix = name[:strings.LastIndex(name, "_")]
				prefix = prefix[:strings.LastIndex(prefix, "_")]
			} else {
				name = prefix + name
			}
			documented[name] = true
		}
	}
	for n := range names {
		if !documented[n] {
			t.Errorf("docs/metrics.md has no row for %s", n)
		}
	}
	for n := range documented {
		if !names[n] {
			t.Errorf("docs/metrics.md documents %s, which the provider does not export", n)
		}
	}
}
