package spc

import (
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
)

func allocs(f func()) uint64 {
	var b, a runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&b)
	f()
	runtime.ReadMemStats(&a)
	return a.TotalAlloc - b.TotalAlloc
}

func TestCal(t *testing.T) {
	docs := map[string]string{
		"flow": "[" + strings.Repeat("a,", 100000) + "a]",
		"flowmap": "{" + strings.Repeat("a,", 100000) + "a}",
		"block": strings.Repeat("- a\n", 50000),
		"blockmap": strings.Repeat("a:\n", 1) + strings.Repeat("  b: c\n", 1),
		"keys": "- " + strings.Repeat("x: 1\n  ", 30000) + "y: 2\n",
		"long": "- objectName: x\n  template: |\n" + strings.Repeat("    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {{ . }}\n", 5000),
		"anchors": "- &a [" + strings.Repeat("*a,", 10) + "b]",
		"nulls": "[" + strings.Repeat("{},", 100000) + "{}]",
		"emptyseq": "[" + strings.Repeat("[],", 100000) + "[]]",
		"dashes": strings.Repeat("- - - - - - - - - a\n", 10000),
	}
	for name, d := range docs {
		var n yaml.Node
		got := allocs(func() { _ = yaml.Unmarshal([]byte(d), &n) })
		seps := 0
		for _, c := range []byte(d) {
			switch c {
			case ',', '[', '{', ':', '-', '\n', '?', '*', '&', '!', '|', '>':
				seps++
			}
		}
		t.Logf("%-10s len %7d seps %7d alloc %10d  per-sep %.0f per-byte %.0f", name, len(d), seps, got, float64(got)/float64(seps+1), float64(got)/float64(len(d)))
	}
	src := strings.Repeat("{{ if .a }}{{ .b.c | upper }}{{ end }}{{ range $k, $v := .m }}{{ $k }}={{ $v }}{{ end }}", 700)[:60000]
	var tp *tmpl.Template
	got := allocs(func() { tp, _ = tmpl.Parse("t", src, tmpl.Limits{}) })
	t.Logf("template %d bytes: %d alloc, %.0f per byte", len(src), got, float64(got)/float64(len(src)))
	src2 := strings.Repeat("{{.}}", 13000)
	got = allocs(func() { tp, _ = tmpl.Parse("t", src2, tmpl.Limits{}) })
	t.Logf("template %d bytes: %d alloc, %.0f per byte", len(src2), got, float64(got)/float64(len(src2)))
	_ = tp
	e := "a.b[0].c | [?x == 'y'] | length(@)" + strings.Repeat(" || a.b", 140)
	got = allocs(func() { _, _ = nested.Compile(e[:1000]) })
	t.Logf("jmes %d bytes: %d alloc", 1000, got)
}
