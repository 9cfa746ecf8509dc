package nested

import (
	"fmt"
	"math"
	"sort"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// interp evaluates a checked AST. It is per Select, so the budget is too.
// Its work and what it builds are charged to the mount's account as well:
// MaxWork and MaxBuiltBytes bound one Select for a clear message, the
// account bounds every Select of the mount together.
type interp struct {
	budget int // work units left
	built  int // bytes of string built so far
	acct   *account.Account
	unsent int // work not yet charged to acct
}

// workUnit is one unit of this package's work in the account's units
// (about a byte scanned each): a value visited, or 16 bytes.
const workUnit = 16

// spend charges n units of work, failing once MaxWork is used up or the
// account refuses. The account is charged in batches, so a cheap step
// costs no atomic operation; a batch also checks the mount's context.
func (in *interp) spend(n int) error {
	if n < 0 || n > in.budget {
		in.budget = 0
		return ErrLimit
	}
	in.budget -= n
	if in.unsent += n; in.unsent >= 1<<12 {
		return in.flush()
	}
	return nil
}

// flush charges the account the work spent since the last flush.
func (in *interp) flush() error {
	n := in.unsent
	in.unsent = 0
	return in.acct.Work(n*workUnit, "evaluating a jmesPath")
}

// build charges for a string of n bytes about to be built.
func (in *interp) build(n int) error {
	if n < 0 || n > MaxBuiltBytes-in.built {
		return ErrLimit
	}
	in.built += n
	if err := in.acct.Charge(account.StringBytes+n, "building a string in a jmesPath"); err != nil {
		return err
	}
	return in.spendBytes(n)
}

// hold charges a list of n elements about to be made.
func (in *interp) hold(n int) error {
	return in.acct.Charge(account.SliceBytes+n*account.SliceElemBytes, "building a list in a jmesPath")
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
				if err := in.hold(len(inner)); err != nil {
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
	if err := in.hold(len(l)); err != nil {
		return nil, err
	}
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
	// The keys, and the list of values or keys made of them.
	if err := in.hold(2 * len(m)); err != nil {
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
