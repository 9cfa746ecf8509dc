package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// Bounds of a policy file: it is read at start-up and on every change, and
// a rule list this long is already unreadable.
const (
	MaxPolicyBytes  = 1 << 20
	MaxRules        = 1000
	maxPatternBytes = 1024
	maxRuleName     = 63
)

// ErrInvalid is wrapped by every error of Parse.
var ErrInvalid = errors.New("invalid node policy")

// ParseError lists every problem of a policy file, each with its line and
// the field it is in, so that one run tells the admin everything to fix.
type ParseError struct {
	Problems []string
}

// maxListedProblems bounds the message; Problems keeps them all.
const maxListedProblems = 20

func (e *ParseError) Error() string {
	listed := e.Problems[:min(len(e.Problems), maxListedProblems)]
	msg := ErrInvalid.Error() + ": " + strings.Join(listed, "; ")
	if more := len(e.Problems) - len(listed); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}

func (e *ParseError) Unwrap() error { return ErrInvalid }

func invalid(problem string) error { return &ParseError{Problems: []string{problem}} }

// Parse parses a policy file (YAML), reporting every problem in a
// *ParseError. Empty data is an error rather than a policy that allows
// everything, so that a missing or truncated file is not mistaken for one;
// "{}" allows everything on purpose.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, invalid(fmt.Sprintf("the policy is %d bytes, more than the %d allowed", len(data), MaxPolicyBytes))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) || err == nil && doc.Content[0].Tag == "!!null" {
		return nil, invalid("empty policy: to allow everything, run without -policy-file")
	}
	if err != nil {
		return nil, invalid(err.Error())
	}
	var pr parser
	pol := pr.policy(doc.Content[0])
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		pr.probs = append(pr.probs, "the file holds more than one YAML document (---)")
	}
	if len(pr.probs) > 0 {
		return nil, &ParseError{Problems: pr.probs}
	}
	return pol, nil
}

// parser walks the YAML nodes rather than decoding into structs, to tell a
// field left out from an empty list, refuse unknown fields, and name the
// line of every problem.
type parser struct {
	probs []string
}

// add records a problem at n, in the field where ("" for the top level).
func (p *parser) add(n *yaml.Node, where, format string, args ...any) {
	loc := fmt.Sprintf("line %d: ", n.Line)
	if where != "" {
		loc += where + ": "
	}
	p.probs = append(p.probs, loc+fmt.Sprintf(format, args...))
}

// kind checks that n is of kind k; aliases are refused, as nothing in a
// policy needs them and they would let a small file expand.
func (p *parser) kind(n *yaml.Node, where string, k yaml.Kind, what string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		p.add(n, where, "aliases (*%s) are not supported", n.Value)
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null" && k == yaml.SequenceNode:
		p.add(n, where, "is null: write [] to allow nothing, or leave the field out to allow anything")
	case n.Kind != k:
		p.add(n, where, "must be %s", what)
	default:
		return true
	}
	return false
}

func (p *parser) scalar(n *yaml.Node, where string) (string, bool) {
	if !p.kind(n, where, yaml.ScalarNode, "a string") {
		return "", false
	}
	if n.Tag == "!!null" {
		p.add(n, where, "is null")
		return "", false
	}
	return n.Value, true
}

// fields calls the reader of each field of the mapping n, in the order
// written, and reports unknown and repeated fields (yaml.v3 does not, when
// decoding into a node).
func (p *parser) fields(n *yaml.Node, where string, readers map[string]func(v *yaml.Node, where string)) {
	if !p.kind(n, where, yaml.MappingNode, "a mapping") {
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := p.scalar(k, where)
		if !ok {
			continue
		}
		read, known := readers[name]
		switch {
		case !known:
			p.add(k, where, "unknown field %s (known: %s)", spc.Quote(name), strings.Join(sortedKeys(readers), ", "))
		case seen[name]:
			p.add(k, join(where, name), "is given twice")
		default:
			read(v, join(where, name))
		}
		seen[name] = true
	}
}

// get returns the value of the field name of the mapping n, or nil.
func get(n *yaml.Node, name string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

func join(where, field string) string {
	if where == "" {
		return field
	}
	return where + "." + field
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// list reads a list of strings; check returns the entry to keep (it may
// normalise it) and a problem, or "".
func (p *parser) list(n *yaml.Node, where string, check func(s string) (string, string)) allow {
	a := allow{patterns: []string{}}
	if !p.kind(n, where, yaml.SequenceNode, "a list") {
		return a
	}
	for i, e := range n.Content {
		at := fmt.Sprintf("%s[%d]", where, i)
		s, ok := p.scalar(e, at)
		if !ok {
			continue
		}
		if len(s) > maxPatternBytes {
			p.add(e, at, "is %d bytes, more than %d", len(s), maxPatternBytes)
			continue
		}
		kept, problem := check(s)
		if problem != "" {
			p.add(e, at, "%s %s", spc.Quote(s), problem)
			continue
		}
		a.patterns = append(a.patterns, kept)
	}
	return a
}

func (p *parser) policy(n *yaml.Node) *Policy {
	pol := &Policy{
		vaultAddresses: allowAny,
		defaultRule:    anyRule(DefaultRule),
	}
	names := map[string]int{}
	p.fields(n, "", map[string]func(*yaml.Node, string){
		"vaultAddresses": func(v *yaml.Node, where string) {
			pol.vaultAddresses = p.list(v, where, func(s string) (string, string) {
				a, problem := parseAddress(s, true)
				if problem == "" {
					pol.addresses = append(pol.addresses, a)
				}
				return s, problem
			})
		},
		"classMayNotSet": func(v *yaml.Node, where string) {
			keys := p.list(v, where, checkParameter)
			pol.mayNotSet = make(map[string]bool, len(keys.patterns))
			for _, k := range keys.patterns {
				pol.mayNotSet[k] = true
			}
		},
		"rules": func(v *yaml.Node, where string) {
			if !p.kind(v, where, yaml.SequenceNode, "a list") {
				return
			}
			if len(v.Content) > MaxRules {
				p.add(v, where, "has %d rules, more than %d", len(v.Content), MaxRules)
			}
			for i, e := range v.Content {
				r := p.rule(e, fmt.Sprintf("rules[%d]", i), true)
				if first, dup := names[r.name]; dup && r.name != "" {
					p.add(e, fmt.Sprintf("rules[%d] (%s)", i, r.name), "name is also that of rules[%d]", first)
				} else {
					names[r.name] = i
				}
				pol.needsLabels = pol.needsLabels || len(r.labels) > 0
				pol.rules = append(pol.rules, r)
			}
		},
		"default": func(v *yaml.Node, where string) {
			pol.defaultRule = p.rule(v, where, false)
			pol.defaultRule.name = DefaultRule
		},
	})
	return pol
}

// rule reads a rule; named rules (those of rules) have a name and
// namespaces, the default rule has neither.
func (p *parser) rule(n *yaml.Node, where string, named bool) rule {
	r := anyRule("")
	if named {
		if v := get(n, "name"); v != nil && v.Kind == yaml.ScalarNode && ruleNameProblem(v.Value) == "" {
			where += " (" + v.Value + ")"
		}
	}
	readers := map[string]func(*yaml.Node, string){
		"serviceAccounts": func(v *yaml.Node, at string) { r.serviceAccounts = p.list(v, at, checkServiceAccount) },
		"roles":           func(v *yaml.Node, at string) { r.roles = p.list(v, at, checkRole) },
		"authMounts":      func(v *yaml.Node, at string) { r.authMounts = p.list(v, at, checkAuthMount) },
		"vaultNamespaces": func(v *yaml.Node, at string) { r.vaultNamespaces = p.list(v, at, checkVaultNamespace) },
		"secretPaths":     func(v *yaml.Node, at string) { r.secretPaths = p.secretPaths(v, at) },
	}
	if named {
		readers["name"] = func(v *yaml.Node, at string) {
			if s, ok := p.scalar(v, at); ok {
				if problem := ruleNameProblem(s); problem != "" {
					p.add(v, at, "%s %s", spc.Quote(s), problem)
				} else {
					r.name = s
				}
			}
		}
		readers["namespaces"] = func(v *yaml.Node, at string) { p.namespaces(v, at, &r) }
	}
	p.fields(n, where, readers)
	if named && n.Kind == yaml.MappingNode {
		for _, f := range []string{"name", "namespaces"} {
			if get(n, f) == nil {
				p.add(n, where, "%s is required", f)
			}
		}
	}
	return r
}

func (p *parser) namespaces(n *yaml.Node, where string, r *rule) {
	p.fields(n, where, map[string]func(*yaml.Node, string){
		"names": func(v *yaml.Node, at string) {
			r.names = p.list(v, at, checkNamespace)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.add(v, at, "is empty: the rule would match no namespace")
			}
		},
		"labels": func(v *yaml.Node, at string) {
			if !p.kind(v, at, yaml.MappingNode, "a mapping of label names to values") {
				return
			}
			if len(v.Content) == 0 {
				p.add(v, at, "is empty: leave it out to match by name only")
			}
			r.labels = make(map[string]string, len(v.Content)/2)
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, ok1 := p.scalar(v.Content[i], at)
				val, ok2 := p.scalar(v.Content[i+1], join(at, k))
				switch {
				case !ok1 || !ok2:
				case !validLabelKey(k):
					p.add(v.Content[i], at, "%s is not a Kubernetes label name", spc.Quote(k))
				case !validLabelValue(val):
					p.add(v.Content[i+1], join(at, k), "%s is not a Kubernetes label value", spc.Quote(val))
				default:
					r.labels[k] = val
				}
			}
		},
	})
	if n.Kind == yaml.MappingNode && get(n, "names") == nil && get(n, "labels") == nil {
		p.add(n, where, "give names, labels or both (the default rule covers the other namespaces)")
	}
}

// allMethods are the methods a secretPaths entry allows by default.
var allMethods = []string{"GET", "PUT", "POST"}

func (p *parser) secretPaths(n *yaml.Node, where string) secretPaths {
	sp := secretPaths{entries: []secretPath{}}
	if !p.kind(n, where, yaml.SequenceNode, "a list") {
		return sp
	}
	for i, e := range n.Content {
		at := fmt.Sprintf("%s[%d]", where, i)
		entry := secretPath{methods: allMethods}
		p.fields(e, at, map[string]func(*yaml.Node, string){
			"prefix": func(v *yaml.Node, at string) {
				if s, ok := p.scalar(v, at); ok {
					if problem := prefixProblem(s); problem != "" {
						p.add(v, at, "%s %s", spc.Quote(s), problem)
					} else {
						entry.prefix = s
					}
				}
			},
			"methods": func(v *yaml.Node, at string) {
				entry.methods = p.list(v, at, func(s string) (string, string) {
					if !slices.Contains(allMethods, s) {
						return "", "is not GET, PUT or POST"
					}
					return s, ""
				}).patterns
			},
		})
		if e.Kind == yaml.MappingNode && get(e, "prefix") == nil {
			p.add(e, at, "prefix is required")
		}
		sp.entries = append(sp.entries, entry)
	}
	return sp
}
