package main

import (
	"fmt"
	"strings"
)

// budgetCases are attacks that each feature's own limit lets through: every
// input is within its cap, but features multiply one another (an alias
// parses a template again, a selection builds strings, a template holds
// variables, a tiny JSON value decodes into a map). Only a budget over the
// whole mount bounds them: the provider must refuse each one naming a limit,
// within the mount's deadline and without growing; kept leases may instead
// be let go (the pods' mounts succeed); and the crowd must not keep another
// namespace from mounting. They read from hostileVault.
var budgetCases = []hostileCase{
	{name: "template-aliases", about: "one 64 KiB template of 13,107 actions, aliased by 256 objects (73 KiB of attributes)",
		params: func(h *hostileEnv) map[string]string { return h.class(templateAliases()) }},
	{name: "tiny-values", about: "four reads of just under 8 MiB each of `[{},{},…]` (2.8 million empty objects) for a template",
		params: func(h *hostileEnv) map[string]string { return h.class(tinyValues()) }},
	{name: "big-headers", about: "eight reads answered with just under 10 MiB of small headers each (950,000 distinct names)",
		params: func(h *hostileEnv) map[string]string { return h.class(bigHeaders()) }},
	{name: "jmes-join", about: "16 templateOnly objects joining one 1 MiB read with jmesPath `join(to_string(v), v)`, and a template using them",
		params: func(h *hostileEnv) map[string]string { return h.class(jmesJoin()) }},
	{name: "jmes-to-number", about: "one 1 KiB jmesPath calling to_number 60 times on a 7 MiB string of digits, comparing 28 times and sorting twice",
		params: func(h *hostileEnv) map[string]string { return h.class(jmesToNumber()) }},
	{name: "template-steps", about: "16 templates of 99,855 loop iterations each, each iteration hashing 128 bytes",
		params: func(h *hostileEnv) map[string]string { return h.class(templateSteps()) }},
	{name: "template-vars", about: "a 64 KiB template declaring 1,959 variables of 1 MB each",
		params: func(h *hostileEnv) map[string]string { return h.class(templateVars()) }},
	{name: "keys-as-files", about: "keysAsFiles over a secret of 762,506 keys (8 MiB)",
		params: func(h *hostileEnv) map[string]string {
			return h.class("- {objectName: keys, secretPath: hostile/keys, keysAsFiles: true}\n")
		}},
	{name: "kept-leases", about: "32 pods in turn, each reading a leased 7.5 MiB secret that is kept for reuse",
		params: func(h *hostileEnv) map[string]string { return h.class(keptLease) }, pods: 32},
	{name: "crowd", about: "3 volumes of 1 MiB attributes (templates and slow 8 MiB reads) in one namespace; answer of another namespace's small mount meanwhile",
		params: func(h *hostileEnv) map[string]string { return h.class(crowdObjects()) }, crowd: 3},
}

// class is a class reading from the hostile Vault.
func (h *hostileEnv) class(objects string) map[string]string {
	return map[string]string{"vaultAddress": "http://" + h.vault.addr, "objects": objects}
}

// repeatTo repeats unit as often as it fits in n bytes.
func repeatTo(unit string, n int) string { return strings.Repeat(unit, n/len(unit)) }

// templateAliases: one template as large as -max-template-bytes allows, of
// the smallest action, under an anchor that 255 more objects alias. Each
// object is a template of its own, parsed on its own.
func templateAliases() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- objectName: t0\n  template: &t '%s'\n", repeatTo("{{.}}", 64<<10))
	for i := 1; i < 256; i++ {
		fmt.Fprintf(&b, "- {objectName: t%d, template: *t}\n", i)
	}
	return b.String()
}

// tinyValues: four responses of about 2.8 million empty objects each, read
// for a template that only counts one list.
func tinyValues() string {
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "- {objectName: r%d, secretPath: hostile/tiny/%d, templateOnly: true}\n", i, i)
	}
	b.WriteString("- {objectName: count, template: '{{ len .r0.data.v }}'}\n")
	return b.String()
}

func bigHeaders() string {
	var b strings.Builder
	for i := range 8 {
		fmt.Fprintf(&b, "- {objectName: h%d, secretPath: hostile/headers/%d, secretKey: k}\n", i, i)
	}
	return b.String()
}

// jmesJoin: each selection builds a string of about 25 MiB (a 1 MiB
// separator between 24 strings), within jmesPath's own 32 MiB of built
// strings per selection; 16 of them are held for the template.
func jmesJoin() string {
	var b strings.Builder
	var lens []string
	for i := range 16 {
		fmt.Fprintf(&b, "- {objectName: j%d, secretPath: hostile/mib, templateOnly: true, jmesPath: 'join(to_string(v), v)'}\n", i)
		lens = append(lens, fmt.Sprintf("{{ len .j%d }}", i))
	}
	fmt.Fprintf(&b, "- {objectName: lengths, template: '%s'}\n", strings.Join(lens, " "))
	return b.String()
}

// jmesToNumber: one expression of about 1 KiB (its limit) whose every
// term decodes the 7 MiB number anew with to_number, compares, and sorts
// (each comparison parses both sides as floats). The terms are joined by ||
// as a balanced tree, within jmesPath's 32 levels; all are false, so every
// one is evaluated.
func jmesToNumber() string {
	const sorted, less = "sort(values(@)[*].to_number(@)) != sort(values(@)[*].to_number(@))", "to_number(v) < to_number(v)"
	var terms []string
	for len(orTree(append(terms, less, sorted))) <= 1024 {
		terms = append(terms, less)
	}
	terms = append(terms, sorted)
	return fmt.Sprintf("- {objectName: n, secretPath: hostile/digits, jmesPath: '%s'}\n", orTree(terms))
}

// orTree joins terms with || as a balanced tree.
func orTree(terms []string) string {
	if len(terms) == 1 {
		return terms[0]
	}
	half := len(terms) / 2
	return "(" + orTree(terms[:half]) + " || " + orTree(terms[half:]) + ")"
}

// templateSteps: nested ranges of 315 and 316 iterations stay under the
// 100,000 steps of one execution; 16 such templates make one mount.
func templateSteps() string {
	const src = `{{ $s := repeat 128 "x" }}{{ range until 315 }}{{ range until 316 }}{{ $_ := sha256sum $s }}{{ end }}{{ end }}done`
	var b strings.Builder
	for i := range 16 {
		fmt.Fprintf(&b, "- {objectName: s%d, template: '%s'}\n", i, src)
	}
	return b.String()
}

// templateVars: each value is within the 1 MiB bound on one value, and a
// declared variable lives until the template ends.
func templateVars() string {
	var src strings.Builder
	for i := 0; ; i++ {
		decl := fmt.Sprintf(`{{ $v%d := repeat 1000000 "x" }}`, i)
		if src.Len()+len(decl)+len(`{{ len $v0 }}`) > 64<<10 {
			break
		}
		src.WriteString(decl)
	}
	src.WriteString(`{{ len $v0 }}`)
	return fmt.Sprintf("- objectName: vars\n  template: '%s'\n", src.String())
}

// keptLease is one leased read of 7.5 MiB, which the lease cache keeps for
// the pod after the mount; each mount is small, the pods' leases are not.
const keptLease = "- {objectName: l, secretPath: hostile/leased/0, templateOnly: true}\n" +
	"- {objectName: length, template: '{{ len .l.data.v }}'}\n"

// crowdObjects: just under 1 MiB (-max-attributes-bytes with the pod's
// keys): four slow reads of 8 MiB of tiny values, and 15 templates of 64
// KiB, each different, aliased to 252 template objects.
func crowdObjects() string {
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "- {objectName: r%d, secretPath: hostile/slow/%d, templateOnly: true}\n", i, i)
	}
	const anchors = 15
	for i := range anchors {
		fmt.Fprintf(&b, "- objectName: t%d\n  template: &t%d '%s'\n", i, i, repeatTo(fmt.Sprintf("{{len .r%d}}", i%4), 64<<10-16))
	}
	for i := anchors; i < 252; i++ {
		fmt.Fprintf(&b, "- {objectName: t%d, template: *t%d}\n", i, i%anchors)
	}
	return b.String()
}
