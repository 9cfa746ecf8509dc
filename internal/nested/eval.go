package nested

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// interp evaluates a checked AST. It is per Select, so the budget is too.
type interp struct {
	budget int // work units left
	built  int // bytes of string built so far
}

// spend charges n units of work, failing once MaxWork is used up.
func (in *interp) spend(n int) error {
	if n < 0 || n > in.budget {
		in.budget = 0
		return ErrLimit
	}
	in.budget -= n
	return nil
}

// build charges for a string of n bytes about to be built.
func (in *interp) build(n int) error {
	if n < 0 || n > MaxBuiltBytes-in.built {
		return ErrLimit
	}
	in.built += n
	return in.spendBytes(n)
}

// spendBytes charges for scanning or building n bytes of string.
func (in *interp) spendBytes(n int) error { return in.spend(n/16 + 1) }

func (in *interp) eval(n parsing.ASTNode, v any) (any, error) {
	if err := in.spend(1); err != nil {
		return nil, err
	}
	switch n.NodeType {
	case parsing.ASTField:
		m, _ := v.(map[string]any)
		return m[n.Value.(string)], nil
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return v, nil
	case parsing.ASTLiteral:
		return n.Value, nil
	case parsing.ASTIndex:
		l, ok := v.([]any)
		if !ok {
			return nil, nil
		}
		i := n.Value.(int)
		if i < 0 {
			i += len(l)
		}
		if i < 0 || i >= len(l) {
			return nil, nil
		}
		return l[i], nil
	case parsing.ASTSlice:
		return in.slice(n.Value.([]*int), v)
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		left, err := in.eval(n.Children[0], v)
		if err != nil || left == nil {
			return nil, err
		}
		return in.eval(n.Children[1], left)
	case parsing.ASTPipe:
		r := v
		for _, c := range n.Children {
			var err error
			if r, err = in.eval(c, r); err != nil {
				return nil, err
			}
		}
		return r, nil
	case parsing.ASTProjection:
		left, err := in.eval(n.Children[0], v)
		if err != nil {
			return nil, err
		}
		if s, ok := left.(string); ok && isStringSlice(n.Children[0]) {
			return s, nil // "abc"[1:] slices the string, nothing to project
		}
		l, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		return in.project(l, n.Children[1], nil)
	case parsing.ASTValueProjection:
		left, err := in.eval(n.Children[0], v)
		if err != nil {
			return nil, err
		}
		m, ok := left.(map[string]any)
		if !ok {
			return nil, nil
		}
		vals, err := in.values(m)
		if err != nil {
			return nil, err
		}
		return in.project(vals, n.Children[1], nil)
	case parsing.ASTFilterProjection:
		l, err := in.evalList(n.Children[0], v)
		if l == nil || err != nil {
			return nil, err
		}
		cond := n.Children[2]
		return in.project(l, n.Children[1], &cond)
	case parsing.ASTFlatten:
		l, err := in.evalList(n.Children[0], v)
		if l == nil || err != nil {
			return nil, err
		}
		out := []any{}
		for _, e := range l {
			if inner, ok := e.([]any); ok {
				if err := in.spend(len(inner) + 1); err != nil {
					return nil, err
				}
				out = append(out, inner...)
				continue
			}
			if err := in.spend(1); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case parsing.ASTOrExpression:
		left, err := in.eval(n.Children[0], v)
		if err != nil || truthy(left) {
			return left, err
		}
		return in.eval(n.Children[1], v)
	case parsing.ASTAndExpression:
		left, err := in.eval(n.Children[0], v)
		if err != nil || !truthy(left) {
			return left, err
		}
		return in.eval(n.Children[1], v)
	case parsing.ASTNotExpression:
		r, err := in.eval(n.Children[0], v)
		if err != nil {
			return nil, err
		}
		return !truthy(r), nil
	case parsing.ASTComparator:
		return in.compare(n, v)
	case parsing.ASTFunctionExpression:
		args := make([]any, len(n.Children))
		for i, c := range n.Children {
			var err error
			if args[i], err = in.eval(c, v); err != nil {
				return nil, err
			}
		}
		name := n.Value.(string)
		return functions[name].call(in, name, args)
	}
	// check refuses everything else; this is a bug, not the tenant's.
	return nil, fmt.Errorf("%w: unsupported node %s", ErrSyntax, n.NodeType)
}

// project applies rhs to each element of l that passes cond (if any),
// dropping null results, as JMESPath projections do.
func (in *interp) project(l []any, rhs parsing.ASTNode, cond *parsing.ASTNode) ([]any, error) {
	// Sized for the common case: a projection keeps most elements.
	out := make([]any, 0, len(l))
	for _, e := range l {
		if cond != nil {
			ok, err := in.eval(*cond, e)
			if err != nil {
				return nil, err
			}
			if !truthy(ok) {
				continue
			}
		}
		r, err := in.eval(rhs, e)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// values returns m's values ordered by key, so results are deterministic.
func (in *interp) values(m map[string]any) ([]any, error) {
	keys, err := in.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out, nil
}

func (in *interp) sortedKeys(m map[string]any) ([]string, error) {
	if err := in.spend(sortCost(len(m))); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

func sortCost(n int) int {
	if n < 2 {
		return n + 1
	}
	return n * (1 + int(math.Log2(float64(n))))
}

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
		out := make([]any, len(idx))
		for i, j := range idx {
			out[i] = v[j]
		}
		return out, nil
	case string:
		if err := in.spendBytes(len(v)); err != nil {
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
	x, ok1 := number(a)
	y, ok2 := number(b)
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
	if x, ok := number(a); ok {
		y, ok := number(b)
		if !ok {
			return false, nil
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

// number reads a JSON number; comparisons use float64 like every JMESPath
// implementation, but the selected value itself keeps its json.Number text.
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

// typeName is the JMESPath type of v, for messages that must not show v.
func typeName(v any) string {
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

// evalList evaluates n over v for a projection: its result if it is an
// array, nil (no projection) otherwise.
func (in *interp) evalList(n parsing.ASTNode, v any) ([]any, error) {
	left, err := in.eval(n, v)
	if err != nil {
		return nil, err
	}
	l, _ := left.([]any)
	return l, nil
}
