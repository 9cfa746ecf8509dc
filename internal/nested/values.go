package nested

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// isStringSlice reports the parser's shape for x[a:b], which also slices
// strings (a Community Edition addition).
func isStringSlice(n parsing.ASTNode) bool {
	return n.NodeType == parsing.ASTIndexExpression && len(n.Children) > 1 && n.Children[1].NodeType == parsing.ASTSlice
}

// slice implements [start:stop:step] on lists and (by character) strings.
func (in *interp) slice(parts []*int, v any) (any, error) {
	switch v := v.(type) {
	case []any:
		idx := sliceIndexes(len(v), parts)
		if err := in.spend(len(idx) + 1); err != nil {
			return nil, err
		}
		if err := in.hold(len(idx)); err != nil {
			return nil, err
		}
		out := make([]any, len(idx))
		for i, j := range idx {
			out[i] = v[j]
		}
		return out, nil
	case string:
		// The runes, the slice of them, and the string made of it.
		if err := in.build(9 * len(v)); err != nil {
			return nil, err
		}
		r := []rune(v)
		idx := sliceIndexes(len(r), parts)
		out := make([]rune, len(idx))
		for i, j := range idx {
			out[i] = r[j]
		}
		return string(out), nil
	}
	return nil, nil
}

// sliceIndexes follows the JMESPath (and Python) slice rules.
func sliceIndexes(n int, parts []*int) []int {
	step := 1
	if parts[2] != nil {
		step = *parts[2]
	}
	get := func(p *int, def int) int {
		if p == nil {
			return def
		}
		i := *p
		if i < 0 {
			i += n
			if i < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
			return i
		}
		if i >= n {
			if step < 0 {
				return n - 1
			}
			return n
		}
		return i
	}
	var start, stop int
	if step > 0 {
		start, stop = get(parts[0], 0), get(parts[1], n)
	} else {
		start, stop = get(parts[0], n-1), get(parts[1], -1)
	}
	var idx []int
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		idx = append(idx, i)
	}
	return idx
}

func (in *interp) compare(n parsing.ASTNode, v any) (any, error) {
	a, err := in.eval(n.Children[0], v)
	if err != nil {
		return nil, err
	}
	b, err := in.eval(n.Children[1], v)
	if err != nil {
		return nil, err
	}
	switch n.Value {
	case parsing.TOKEQ, parsing.TOKNE:
		eq, err := in.equal(a, b)
		if err != nil {
			return nil, err
		}
		return eq == (n.Value == parsing.TOKEQ), nil
	}
	x, ok1, err := in.number(a)
	if err != nil {
		return nil, err
	}
	y, ok2, err := in.number(b)
	if err != nil {
		return nil, err
	}
	if !ok1 || !ok2 {
		return nil, nil // ordering is defined on numbers only
	}
	switch n.Value {
	case parsing.TOKLT:
		return x < y, nil
	case parsing.TOKLTE:
		return x <= y, nil
	case parsing.TOKGT:
		return x > y, nil
	case parsing.TOKGTE:
		return x >= y, nil
	}
	return nil, nil
}

// equal is JSON equality, numbers compared by value; it charges one unit
// per value visited.
func (in *interp) equal(a, b any) (bool, error) {
	if err := in.spend(1); err != nil {
		return false, err
	}
	if x, ok, err := in.number(a); err != nil || ok {
		y, ok, err2 := in.number(b)
		if err != nil || err2 != nil || !ok {
			return false, errors.Join(err, err2)
		}
		if s, ok := a.(json.Number); ok {
			if t, ok := b.(json.Number); ok && s == t {
				return true, nil
			}
		}
		return x == y, nil
	}
	switch a := a.(type) {
	case nil:
		return b == nil, nil
	case bool:
		c, ok := b.(bool)
		return ok && a == c, nil
	case string:
		c, ok := b.(string)
		if !ok {
			return false, nil
		}
		if err := in.spendBytes(len(a)); err != nil {
			return false, err
		}
		return a == c, nil
	case []any:
		c, ok := b.([]any)
		if !ok || len(a) != len(c) {
			return false, nil
		}
		for i := range a {
			if eq, err := in.equal(a[i], c[i]); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case map[string]any:
		c, ok := b.(map[string]any)
		if !ok || len(a) != len(c) {
			return false, nil
		}
		for k, x := range a {
			y, ok := c[k]
			if !ok {
				return false, nil
			}
			if eq, err := in.equal(x, y); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

// number reads a JSON number, charging the bytes it parses: a json.Number
// from Vault can be megabytes long.
func (in *interp) number(v any) (float64, bool, error) {
	if n, ok := v.(json.Number); ok {
		if err := in.spendBytes(len(n)); err != nil {
			return 0, false, err
		}
	}
	f, ok := number(v)
	return f, ok, nil
}

// isNumber reports a JSON number without parsing it.
func isNumber(v any) bool {
	switch v.(type) {
	case float64, json.Number:
		return true
	}
	return false
}

// number reads a JSON number; comparisons use float64 like every JMESPath
// implementation, but the selected value itself keeps its json.Number text.
// Callers charge its parsing (interp.number).
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !isRange(err) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// truthy is JMESPath truth: false, null, "", [] and {} are false.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// TypeName is the JMESPath type of v, for messages that must not show v.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
