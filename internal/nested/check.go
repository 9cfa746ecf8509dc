package nested

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// maxMsg bounds the parts of an error message that come from the
// expression or the library, so a 1 KiB expression cannot make a 1 KiB log
// line several times over.
const maxMsg = 120

// syntaxError wraps a parser error as ErrSyntax with a 1-based column.
func syntaxError(expr string, err error) error {
	var se parsing.SyntaxError
	if errors.As(err, &se) {
		msg := strings.TrimPrefix(se.Error(), "SyntaxError: ")
		return fmt.Errorf("%w: %s: %s at column %d", ErrSyntax, quoteExpr(expr), truncate(msg, maxMsg), column(expr, se.Offset))
	}
	// strconv (an index too large for an int) or encoding/json (a bad
	// literal): messages about the expression, not about data.
	return fmt.Errorf("%w: %s: %s", ErrSyntax, quoteExpr(expr), truncate(err.Error(), maxMsg))
}

// refused is the ErrSyntax for a construct outside the subset, located by
// the first token in expr that starts it (the AST has no positions).
func refused(expr, what, why string, at int) error {
	where := ""
	if at >= 0 {
		where = fmt.Sprintf(" at column %d", column(expr, at))
	}
	return fmt.Errorf("%w: %s: %s%s is not allowed: %s", ErrSyntax, quoteExpr(expr), what, where, why)
}

// check walks the AST and refuses what is outside the selection subset.
func check(expr string, n parsing.ASTNode, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: %s: nested more than %d levels deep", ErrSyntax, quoteExpr(expr), MaxDepth)
	}
	switch n.NodeType {
	case parsing.ASTField, parsing.ASTIdentity, parsing.ASTCurrentNode, parsing.ASTIndex:
	case parsing.ASTSubexpression, parsing.ASTIndexExpression, parsing.ASTProjection,
		parsing.ASTValueProjection, parsing.ASTFilterProjection, parsing.ASTFlatten,
		parsing.ASTPipe, parsing.ASTOrExpression, parsing.ASTAndExpression,
		parsing.ASTNotExpression, parsing.ASTComparator:
	case parsing.ASTLiteral:
		switch n.Value.(type) {
		case nil, string, float64, bool:
		default:
			return refused(expr, "an array or object literal", "only string, number, boolean and null literals", literalAt(expr))
		}
	case parsing.ASTSlice:
		if p, _ := n.Value.([]*int); len(p) == 3 && p[2] != nil && *p[2] == 0 {
			return fmt.Errorf("%w: %s: a slice step cannot be 0", ErrSyntax, quoteExpr(expr))
		}
	case parsing.ASTFunctionExpression:
		name, _ := n.Value.(string)
		f, ok := functions[name]
		if !ok {
			return refused(expr, "function "+strconv.Quote(truncate(name, maxMsg)), "allowed functions are "+functionNames(), scan(expr, func(s string, i int) bool {
				return strings.HasPrefix(s[i:], name) && strings.HasPrefix(strings.TrimLeft(s[i+len(name):], " \t\r\n"), "(")
			}))
		}
		if len(n.Children) < f.minArgs || (f.maxArgs >= 0 && len(n.Children) > f.maxArgs) {
			return fmt.Errorf("%w: %s: function %s takes %s", ErrSyntax, quoteExpr(expr), name, f.arity())
		}
	case parsing.ASTMultiSelectList:
		return refused(expr, "a multiselect list [a, b]", "it builds new lists whose size can double at each pipe", multiListAt(expr))
	case parsing.ASTMultiSelectHash:
		return refused(expr, "a multiselect hash {k: v}", "it builds new objects whose size can double at each pipe", byteAt(expr, '{'))
	case parsing.ASTLetExpression, parsing.ASTBindings, parsing.ASTBinding, parsing.ASTVariable:
		return refused(expr, "let or a $variable", "only selection is allowed", byteAt(expr, '$'))
	case parsing.ASTRootNode:
		return refused(expr, "the root node $", "a projection could repeat the whole input once per element", byteAt(expr, '$'))
	case parsing.ASTExpRef:
		return refused(expr, "an expression reference &", "no allowed function takes one", byteAt(expr, '&'))
	case parsing.ASTArithmeticExpression, parsing.ASTArithmeticUnaryExpression:
		return refused(expr, "arithmetic", "only selection is allowed", -1)
	default:
		return refused(expr, "the construct "+n.NodeType.String(), "only selection is allowed", -1)
	}
	for _, c := range n.Children {
		if err := check(expr, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// scan returns the byte offset of the first position outside quoted
// identifiers, raw strings and JSON literals where match holds, or -1.
func scan(s string, match func(s string, i int) bool) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		default:
			if match(s, i) {
				return i
			}
		}
	}
	return -1
}

func byteAt(s string, b byte) int {
	return scan(s, func(s string, i int) bool { return s[i] == b })
}

// multiListAt finds a '[' that starts neither an index, a slice, a
// wildcard, a filter nor a flatten.
func multiListAt(s string) int {
	return scan(s, func(s string, i int) bool {
		if s[i] != '[' {
			return false
		}
		rest := strings.TrimLeft(s[i+1:], " \t\r\n")
		return rest != "" && !strings.ContainsAny(rest[:1], "]*?:-0123456789")
	})
}

// literalAt finds a JSON literal that starts with '[' or '{'.
func literalAt(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			start := i
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if c == '`' {
				body := strings.TrimLeft(s[start+1:min(i, len(s))], " \t\r\n")
				if strings.HasPrefix(body, "[") || strings.HasPrefix(body, "{") {
					return start
				}
			}
		}
	}
	return -1
}

// column turns a byte offset into a 1-based column in characters.
func column(s string, off int) int {
	off = max(0, min(off, len(s)))
	return utf8.RuneCountInString(s[:off]) + 1
}

func quoteExpr(s string) string { return strconv.Quote(truncate(s, maxMsg)) }

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
