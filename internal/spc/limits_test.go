package spc

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc/spctest"
)

// objectsList is n minimal objects, one a line pair.
func objectsList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- {objectName: f%d, secretPath: secret/data/app}\n", i)
	}
	return b.String()
}

// anchorBomb is a small objects document whose secretArgs all alias one
// anchor, itself built of nested aliases: each level multiplies by width.
// levels 6, width 10 and 40 objects stand for 4e7 nodes in under 2 KB.
func anchorBomb(levels, width, objects int) string {
	var b strings.Builder
	b.WriteString("- objectName: base\n  secretPath: secret/data/app\n  secretArgs:\n")
	fmt.Fprintf(&b, "    l0: &l0 [%s]\n", strings.TrimSuffix(strings.Repeat("x,", width), ","))
	for l := 1; l < levels; l++ {
		fmt.Fprintf(&b, "    l%d: &l%d [%s]\n", l, l, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", l-1), width), ","))
	}
	for i := range objects {
		fmt.Fprintf(&b, "- {objectName: o%d, secretPath: pki/issue/web, method: POST, secretArgs: {a: *l%d}}\n", i, levels-1)
	}
	return b.String()
}

// TestYAMLBombBounded parses the bomb with the default limits: it is
// refused by the node count before any secretArgs is decoded, with a few
// MiB allocated (the document itself), not gigabytes.
func TestYAMLBombBounded(t *testing.T) {
	attrs := validAttrs()
	attrs["objects"] = spctest.YAMLBomb(40)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseParams(nil, attrs, testDefaults())
	runtime.ReadMemStats(&after)
	assertProblems(t, err, []string{"objects has more than 50000 YAML nodes once its aliases (*name) and merge keys (<<) are expanded"})
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("parsing the bomb allocated %d MiB", alloc>>20)
	}
}

func TestLimits(t *testing.T) {
	// One value aliased: 2 KB of YAML, 100 KB of JSON.
	aliasedArgs := "- {objectName: a, secretPath: b, secretArgs: {v: &v " + strings.Repeat("x", 1000) + "}}\n" +
		"- {objectName: c, secretPath: d, secretArgs: {l: [" + strings.TrimSuffix(strings.Repeat("*v,", 100), ",") + "]}}"
	tests := []struct {
		name   string
		attrs  map[string]string // merged over validAttrs
		limits Limits
		want   []string
	}{
		{
			name:  "attributes above the default size",
			attrs: map[string]string{"csi.storage.k8s.io/pod.labels": strings.Repeat("x", 1<<20)},
			want:  []string{"above the limit of 1048576 bytes (-max-attributes-bytes)"},
		},
		{
			name:   "attributes above a lowered size",
			limits: Limits{AttributesBytes: 300},
			want:   []string{"the attributes are 3", "above the limit of 300 bytes (-max-attributes-bytes)"},
		},
		{
			name:  "too many objects",
			attrs: map[string]string{"objects": objectsList(257)},
			want:  []string{"objects lists 257 objects, above the limit of 256 (-max-objects)"},
		},
		{
			name:  "anchor bomb",
			attrs: map[string]string{"objects": anchorBomb(6, 10, 40)},
			want:  []string{"objects has more than 50000 YAML nodes once its aliases (*name) and merge keys (<<) are expanded, the limit (-max-yaml-nodes)"},
		},
		{
			// 400 nodes written, about 4,000 expanded: a lowered limit
			// shows they are counted after expansion.
			name:   "aliases counted every time they are used",
			attrs:  map[string]string{"objects": anchorBomb(2, 10, 40)},
			limits: Limits{YAMLNodes: 1000},
			want:   []string{"objects has more than 1000 YAML nodes once its aliases"},
		},
		{
			name:   "merge keys counted expanded",
			attrs:  map[string]string{"objects": "- &b {objectName: a, secretPath: b, method: GET, encoding: hex, secretKey: k}\n" + strings.Repeat("- {<<: [*b, *b, *b], objectName: x}\n", 30)},
			limits: Limits{YAMLNodes: 1000},
			want:   []string{"objects has more than 1000 YAML nodes"},
		},
		{
			name:  "secretArgs above the size",
			attrs: map[string]string{"objects": "- {objectName: a, secretPath: b, secretArgs: {csr: " + strings.Repeat("x", 64<<10) + "}}"},
			want:  []string{`object "a": secretArgs is more than 65536 bytes as JSON, above the limit of 65536 bytes (-max-secret-args-bytes)`},
		},
		{
			// Within the limit by length, past it once encoded: the exact
			// size is measured on the one encoding made.
			name:  "secretArgs past the size once escaped",
			attrs: map[string]string{"objects": "- {objectName: a, secretPath: b, secretArgs: {csr: \"" + strings.Repeat("<", 20000) + "\"}}"},
			want:  []string{`object "a": secretArgs is 120010 bytes as JSON, above the limit of 65536 bytes (-max-secret-args-bytes)`},
		},
		{
			name:   "secretArgs expanded by aliases",
			attrs:  map[string]string{"objects": aliasedArgs},
			limits: Limits{SecretArgsBytes: 10 << 10},
			want:   []string{`object "c": secretArgs is more than 10240 bytes as JSON, above the limit of 10240 bytes (-max-secret-args-bytes)`},
		},
		{
			name: "control characters in parameters",
			attrs: map[string]string{"roleName": "app\x00admin", "vaultNamespace": "team\n", "audience": "vault\x1b[31m",
				"csi.storage.k8s.io/pod.namespace": "shop\u0085"},
			want: []string{
				"roleName contains a control character (U+0000 at byte 3): remove it",
				"vaultNamespace contains a control character (U+000A at byte 4)",
				"audience contains a control character (U+001B at byte 5)",
				"csi.storage.k8s.io/pod.namespace contains a control character (U+0085 at byte 4)",
			},
		},
		{
			name: "control characters in object fields",
			attrs: map[string]string{"objects": "- {objectName: \"a\\tb\", secretPath: c}\n" +
				"- {objectName: d, secretPath: \"secret/data/x\\0\", secretKey: \"k\\n\", method: \"GET\\r\", encoding: \"hex\\x7f\"}"},
			want: []string{
				`object "a\tb": objectName contains a control character (U+0009 at byte 1)`,
				`object "a\tb": objectName is required`,
				`object "d": secretPath contains a control character (U+0000 at byte 13)`,
				`object "d": secretPath is required`,
				`object "d": secretKey contains a control character (U+000A at byte 1)`,
				`object "d": method contains a control character (U+000D at byte 3)`,
				`object "d": encoding contains a control character (U+007F at byte 3)`,
			},
		},
		{
			name:  "NUL in a secretArgs value",
			attrs: map[string]string{"objects": "- {objectName: a, secretPath: b, secretArgs: {x: {y: [ok, \"n\\0l\"]}}}"},
			want:  []string{`object "a": secretArgs.x.y[1] contains a control character (U+0000 at byte 1): only tabs and line breaks are allowed in values`},
		},
		{
			name:  "escape in a secretArgs key",
			attrs: map[string]string{"objects": "- {objectName: a, secretPath: b, secretArgs: {\"k\\e\": v}}"},
			want:  []string{`object "a": secretArgs has a key with a control character (U+001B at byte 1)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			for k, v := range tc.attrs {
				attrs[k] = v
			}
			d := testDefaults()
			d.Limits = tc.limits
			p, err := ParseParams(nil, attrs, d)
			if p != nil {
				t.Errorf("ParseParams returned params with an error")
			}
			if err == nil {
				t.Fatal("no error")
			}
			if len(err.Error()) > 4<<10+100 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			if tc.name != "attributes above a lowered size" {
				assertProblems(t, err, tc.want)
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestWithinLimits accepts what the limits let through: multi-line text in
// secretArgs, and classes just at each limit.
func TestWithinLimits(t *testing.T) {
	csr := "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIB\tx\n-----END CERTIFICATE REQUEST-----\n"
	tests := []struct {
		name    string
		objects string
		limits  Limits
		check   func(*Params) error
	}{
		{
			name:    "PEM with line breaks and tabs in secretArgs",
			objects: fmt.Sprintf("- {objectName: a, secretPath: pki/sign/web, method: POST, secretArgs: {csr: %q}}", csr),
			check: func(p *Params) error {
				if got := p.Plan.Outputs[0].Args["csr"]; got != csr {
					return fmt.Errorf("csr = %q", got)
				}
				return nil
			},
		},
		{name: "256 objects", objects: objectsList(256)},
		{name: "aliases within the node limit", objects: anchorBomb(2, 10, 40), limits: Limits{YAMLNodes: 10000}},
		{
			name:    "secretArgs at the size limit",
			objects: "- {objectName: a, secretPath: b, secretArgs: {csr: " + strings.Repeat("x", 64<<10-10) + "}}",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			attrs["objects"] = tc.objects
			d := testDefaults()
			d.Limits = tc.limits
			p, err := ParseParams(nil, attrs, d)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				if err := tc.check(p); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestErrorMessagesBounded(t *testing.T) {
	long := strings.Repeat("v", 100000)
	var many strings.Builder
	for i := range 200 {
		fmt.Fprintf(&many, "- {objectName: %s%d, bogus%d: x}\n", long[:1000], i, i)
	}
	tests := []struct {
		name      string
		attrs     map[string]string
		wantIn    []string
		wantCount int // problems kept
		wantMore  int
	}{
		{
			name:      "long value quoted short",
			attrs:     map[string]string{"vaultAddress": long},
			wantIn:    []string{`vaultAddress "vvvvvvvv`, `"... (100000 bytes) must start with http://`},
			wantCount: 1,
		},
		{
			name:      "many problems: the first listed, the rest counted",
			attrs:     map[string]string{"objects": many.String()},
			wantIn:    []string{`"... (1001 bytes): objectName: file path "vvvv`, "; and 58"},
			wantCount: maxKeptProblems,
			wantMore:  200*3 - maxKeptProblems, // unknown field, objectName, missing secretPath
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			for k, v := range tc.attrs {
				attrs[k] = v
			}
			_, err := ParseParams(nil, attrs, testDefaults())
			pe, ok := err.(*ParamsError)
			if !ok {
				t.Fatalf("error %v is not a *ParamsError", err)
			}
			msg := err.Error()
			if len(msg) > MaxErrorBytes+100 {
				t.Errorf("message of %d bytes", len(msg))
			}
			if strings.Contains(msg, long[:maxProblemBytes]) {
				t.Error("message quotes a long value whole")
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			if got := []int{len(pe.Problems), pe.More}; !cmp.Equal(got, []int{tc.wantCount, tc.wantMore}) {
				t.Errorf("kept, more = %v, want %v", got, []int{tc.wantCount, tc.wantMore})
			}
		})
	}
}

func TestJoinBounded(t *testing.T) {
	probs := make([]string, 30)
	for i := range probs {
		probs[i] = fmt.Sprintf("p%d", i)
	}
	got := joinBounded(probs, 7)
	want := "p0; p1; p2; p3; p4; p5; p6; p7; p8; p9; p10; p11; p12; p13; p14; p15; p16; p17; p18; p19; and 17 more"
	if got != want {
		t.Errorf("joinBounded = %q, want %q", got, want)
	}
	big := []string{strings.Repeat("a", 10000), strings.Repeat("b", 10000)}
	if got := joinBounded(big, 0); len(got) > MaxErrorBytes || !strings.HasSuffix(got, "...") && !strings.Contains(got, "and") {
		t.Errorf("joinBounded of long problems = %d bytes: %.80q", len(got), got)
	}
}

func TestCountNodes(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		budget int
		want   int
		within bool
	}{
		{"scalar", "a", 10, 2, true}, // document + scalar
		{"list", "[a, b]", 10, 4, true},
		// An alias is charged 1 and its target's size.
		{"alias charged its target", "[&a [x, y], *a, *a]", 100, 2 + 3 + 2*(1+3), true},
		{"nested aliases multiply", "[&a [x, x], &b [*a, *a], [*b, *b]]", 1000, 2 + 3 + 9 + 21, true},
		{"stops past the budget", "[&a [x, x], &b [*a, *a], [*b, *b]]", 10, 11, false},
		{"alias cycle spends the budget", "&a [*a]", 1000, 1001, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			n, within := countNodes(&doc, tc.budget)
			if n != tc.want || within != tc.within {
				t.Errorf("countNodes = %d, %t; want %d, %t", n, within, tc.want, tc.within)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", `"abc"`},
		{"a\tb", `"a\tb"`},
		{strings.Repeat("x", 64), `"` + strings.Repeat("x", 64) + `"`},
		{strings.Repeat("x", 65), `"` + strings.Repeat("x", 64) + `"... (65 bytes)`},
		// Escapes count: 16 bytes of \x8d fill the 64 characters.
		{strings.Repeat("\x8d", 20), `"` + strings.Repeat(`\x8d`, 16) + `"... (20 bytes)`},
		{strings.Repeat("é", 40), `"` + strings.Repeat("é", 32) + `"... (80 bytes)`},
	}
	for _, tc := range tests {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
