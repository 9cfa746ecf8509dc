package spc

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account/accounttest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
	"github.com/vault-csi-provider/vault-csi-provider/internal/tmpl"
)

// TestParseCostsCoverAllocations checks that what parsing is charged
// covers what the parsers allocate, for the shapes that make them allocate
// most per byte.
func TestParseCostsCoverAllocations(t *testing.T) {
	docs := map[string]string{
		"flow list":       "[" + strings.Repeat("a,", 100000) + "a]",
		"flow map":        "{" + strings.Repeat("a,", 100000) + "a}",
		"block list":      strings.Repeat("- a\n", 50000),
		"keys":            "- " + strings.Repeat("x: 1\n  ", 30000) + "y: 2\n",
		"template lines":  "- objectName: x\n  template: |\n" + strings.Repeat("    aaaaaaaaaaaaaaaaaaaa {{ . }}\n", 5000),
		"anchors":         "- &a [" + strings.Repeat("*a,", 10) + "b]",
		"empty maps":      "[" + strings.Repeat("{},", 100000) + "{}]",
		"nested lists":    strings.Repeat("- - - - - - - - - a\n", 10000),
		"tiny":            "a:\n  b: c\n",
		"merge keys":      "- &b {a: 1}\n- <<: *b\n" + strings.Repeat("- <<: *b\n", 1000),
		"quoted commas":   `["` + strings.Repeat(",", 100000) + `"]`,
		"flow map values": "{" + strings.Repeat("a: b, ", 40000) + "c: d}",
	}
	for name, d := range docs {
		t.Run("yaml "+name, func(t *testing.T) {
			var n yaml.Node
			got, charged := accounttest.Allocated(func() { _ = yaml.Unmarshal([]byte(d), &n) }), int64(yamlTreeBytes(d))
			t.Logf("%d bytes: allocated %d, charged %d", len(d), got, charged)
			if charged < got {
				t.Errorf("charged %d, below the %d bytes yaml.v3 allocated", charged, got)
			}
		})
	}
	sources := map[string]string{
		"dense actions": strings.Repeat("{{.}}", 13000),
		"control":       strings.Repeat("{{ if .a }}{{ .b.c | upper }}{{ end }}{{ range $k, $v := .m }}{{ $k }}={{ $v }}{{ end }}", 700),
		"variables":     strings.Repeat("{{ $x := .a }}", 4000),
	}
	for name, src := range sources {
		t.Run("template "+name, func(t *testing.T) {
			got, charged := accounttest.Allocated(func() { _, _ = tmpl.Parse("t", src, tmpl.Limits{SourceBytes: len(src)}) }), int64(parseBytesPerByte*len(src))
			t.Logf("%d bytes: allocated %d, charged %d", len(src), got, charged)
			if charged < got {
				t.Errorf("charged %d, below the %d bytes the template parser allocated", charged, got)
			}
		})
	}
	expr := ("a.b[0].c | [?x == 'y'] | length(@)" + strings.Repeat(" || a.b", 160))[:nested.MaxExprBytes]
	got, charged := accounttest.Allocated(func() { _, _ = nested.Compile(expr) }), int64(parseBytesPerByte*len(expr))
	if charged < got {
		t.Errorf("jmesPath: charged %d, below the %d bytes Compile allocated", charged, got)
	}
}
