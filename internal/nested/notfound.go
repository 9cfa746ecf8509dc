package nested

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// maxKeys bounds how many keys a NotFound message lists.
const maxKeys = 20

// step is one link of a plain chain: a field, or an index when field is "".
type step struct {
	field string
	index int
	isIdx bool
}

// chain returns the steps of a plain chain of fields and indexes (db.password,
// hosts[0], "a.b".c), or nil for any other expression.
func chain(n parsing.ASTNode) []step {
	switch n.NodeType {
	case parsing.ASTField:
		return []step{{field: n.Value.(string)}}
	case parsing.ASTIndex:
		return []step{{index: n.Value.(int), isIdx: true}}
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return []step{}
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		left, right := chain(n.Children[0]), chain(n.Children[1])
		if left == nil || right == nil {
			return nil
		}
		return append(left, right...)
	}
	return nil
}

// notFound explains a null result without showing any value: for a chain,
// where it stopped and what is there; otherwise the top-level keys.
func (e *Expr) notFound(v any) error {
	if e.path == nil {
		return fmt.Errorf("%w: %s selected null; the secret has %s", ErrNotFound, quoteExpr(e.src), describe(v))
	}
	at := "the secret"
	prefix := ""
	for _, s := range e.path {
		if s.isIdx {
			l, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%w: %s: %s is %s, not an array", ErrNotFound, quoteExpr(e.src), at, article(TypeName(v)))
			}
			i := s.index
			if i < 0 {
				i += len(l)
			}
			if i < 0 || i >= len(l) {
				return fmt.Errorf("%w: %s: index %d is out of range: %s is an array of %d elements", ErrNotFound, quoteExpr(e.src), s.index, at, len(l))
			}
			v = l[i]
			prefix += "[" + strconv.Itoa(s.index) + "]"
		} else {
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: %s: %s is %s, not an object", ErrNotFound, quoteExpr(e.src), at, article(TypeName(v)))
			}
			next, present := m[s.field]
			if next == nil {
				what := "no key"
				if present {
					what = "a null value at key"
				}
				return fmt.Errorf("%w: %s: %s has %s %s; %s", ErrNotFound, quoteExpr(e.src), at, what, quoteKey(s.field), keyList(m))
			}
			v = next
			if prefix != "" {
				prefix += "."
			}
			prefix += identifier(s.field)
		}
		at = truncate(prefix, maxMsg)
	}
	// A chain whose every step succeeded selected a non-null value; this is
	// reached only if the evaluator and the walk disagree.
	return fmt.Errorf("%w: %s selected null", ErrNotFound, quoteExpr(e.src))
}

// describe names v's type, and its keys when it is an object.
func describe(v any) string {
	if m, ok := v.(map[string]any); ok {
		return keyList(m)
	}
	if l, ok := v.([]any); ok {
		return fmt.Sprintf("an array of %d elements at the top", len(l))
	}
	return article(TypeName(v)) + " at the top"
}

// keyList names the keys of m for a message.
func keyList(m map[string]any) string {
	if len(m) == 0 {
		return "it has no keys"
	}
	return "keys: " + Keys(m)
}

// Keys lists the keys of m (never its values) for a message: sorted,
// quoted, each shortened, at most 20 and how many more; "none" if empty.
func Keys(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	shown := keys[:min(len(keys), maxKeys)]
	q := make([]string, len(shown))
	for i, k := range shown {
		q[i] = quoteKey(k)
	}
	s := strings.Join(q, ", ")
	if n := len(keys) - len(shown); n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

func quoteKey(k string) string { return strconv.Quote(truncate(k, 64)) }

var plainIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// identifier writes a field as it would appear in an expression.
func identifier(k string) string {
	if plainIdent.MatchString(k) {
		return k
	}
	return quoteKey(k)
}
