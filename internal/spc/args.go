package spc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseArgs reads secretArgs, the JSON body of a PUT or POST. Whatever JSON
// cannot encode (a non-string key in a nested map, .inf) is rejected here
// rather than at fetch time, and so are args that surely pass limit bytes as
// JSON (buildPlan checks the encoding's exact size).
func parseArgs(v *yaml.Node, label string, limit int, probs *problems) map[string]any {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		probs.add("%s: secretArgs must be a map of request body fields, not a %s", label, kindName(v))
		return nil
	}
	// Decoding expands aliases: charge every node it will make.
	nodes, _ := countNodes(v, limit)
	if !probs.charge(nodes*argsNodeBytes, nodes, label+": secretArgs") {
		return nil
	}
	var args map[string]any
	if err := v.Decode(&args); err != nil {
		probs.add("%s: secretArgs cannot be read: %v", label, err)
		return nil
	}
	// Aliases make the decoded args share their strings, so their JSON can
	// be far larger than the document: measure before encoding, which
	// buildPlan does once, charged.
	w := argsWalk{budget: limit}
	if _, ok := w.jsonable(args); !ok {
		switch {
		case w.problem != "":
			probs.add("%s: secretArgs%s %s", label, w.path(), w.problem)
		default:
			argsTooLarge(probs, label, "more than "+strconv.Itoa(limit), limit)
		}
		return nil
	}
	return args
}

func argsTooLarge(probs *problems, label, size string, limit int) {
	probs.add("%s: secretArgs is %s bytes as JSON, above the limit of %d bytes (%s): shorten it, or ask the operator to raise %s",
		label, size, limit, FlagMaxSecretArgsBytes, FlagMaxSecretArgsBytes)
}

// argsWalk makes decoded secretArgs fit for JSON and checks them. budget is
// what remains of the size limit: each string and key is charged its length,
// a lower bound of its JSON encoding. On failure, problem says why and at
// holds the path to the offending value, innermost first, built only then.
type argsWalk struct {
	budget  int
	problem string
	at      []string
}

// path renders the path to the offending value, e.g. ".a.b[2]".
func (w *argsWalk) path() string {
	var b strings.Builder
	for i := len(w.at) - 1; i >= 0; i-- {
		b.WriteString(w.at[i])
	}
	return b.String()
}

// elem renders a map key as a path element, quoted if it is not plain text.
func elem(k string) string {
	if len(k) <= maxQuotedBytes && controlChar(k, nil) == "" && !strings.ContainsAny(k, ".[]\"") {
		return "." + k
	}
	return "[" + Quote(k) + "]"
}

// jsonable returns v with every nested map keyed by strings, as JSON needs.
// yaml.v3 decodes a map as map[any]any when a key is not a plain string;
// such a map is converted if its keys are all strings, else the first
// offending key (in sorted order) is reported. Keys may hold no control
// character, string values none but tabs and line breaks: Vault request data
// is text, and multi-line text (a PEM CSR) is common, but a NUL or an escape
// never is.
func (w *argsWalk) jsonable(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		if c := controlChar(t, textControl); c != "" {
			w.problem = "contains " + c + ": only tabs and line breaks are allowed in values"
			return nil, false
		}
		return t, w.charge(len(t))
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if c := controlChar(k, nil); c != "" {
				w.problem = "has a key with " + c
				return nil, false
			}
			if !w.charge(len(k)) {
				return nil, false
			}
			e, ok := w.jsonable(t[k])
			if !ok {
				w.at = append(w.at, elem(k))
				return nil, false
			}
			t[k] = e
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		var bad []string
		for k, e := range t {
			if ks, ok := k.(string); ok {
				m[ks] = e
			} else {
				bad = append(bad, fmt.Sprint(k))
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			key := plain(bad[0])
			w.problem = fmt.Sprintf("has key %s that is not a string: quote it (%q)", key, key)
			return nil, false
		}
		return w.jsonable(m)
	case []any:
		for i, e := range t {
			e, ok := w.jsonable(e)
			if !ok {
				w.at = append(w.at, "["+strconv.Itoa(i)+"]")
				return nil, false
			}
			t[i] = e
		}
	}
	return v, w.charge(1)
}

// charge spends n bytes of the budget, reporting whether any is left.
func (w *argsWalk) charge(n int) bool {
	w.budget -= n
	return w.budget >= 0
}
