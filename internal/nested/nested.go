// Package nested selects a value nested inside a Vault secret with a
// JMESPath expression (the SecretProviderClass object field jmesPath).
//
// Class authors are untrusted tenants of a shared node, so the package
// accepts only a selection subset of JMESPath, checked on the parsed AST at
// Compile, and evaluates it with its own small interpreter under a work
// budget (MaxWork). Errors name keys, types, lengths and the expression,
// never a secret value.
//
// Library: github.com/jmespath-community/go-jmespath (JMESPath Community
// Edition) rather than github.com/jmespath/go-jmespath v0.4.0, which the AWS
// SDK and AWS provider use. The community module is maintained (v0.4.0's
// last release was 2020), passes the same compliance suite plus the newer
// spec additions, and, decisively, exports its AST (NodeType, Value,
// Children) and the parser's error offset: v0.4.0 keeps its AST fields
// unexported, so the checks below could only be done on its debug print.
// We use the library's lexer and parser only. Its interpreter is not used:
// it compares numbers only as float64 (so json.Number data from Vault never
// matches a filter or reaches length/max/sort), goes through reflection for
// non-JSON types, and has no hook to bound work; ours is about 300 lines
// over the subset below.
//
// The subset: identifiers (quoted too), sub-expressions, indexes, slices,
// wildcards and projections, flatten, filters with comparisons, && || !,
// pipes, the current node @, scalar literals, and the functions in
// [functions]. Refused: multiselect lists and hashes (with pipes and flatten
// they double the result per stage), let and variables, the root node $ (a
// projection would repeat the whole input once per element), arithmetic,
// array and object literals, expression references (&), and every function
// not in the table (for example pad_left, replace, to_array, merge, map).
// What remains only ever returns parts of the input, scalars, or lists of
// parts of the input; strings are built only by to_string and join, whose
// size is charged to the budget before they are built.
package nested

import (
	"errors"
	"fmt"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// Limits on an expression and on one evaluation.
const (
	// MaxExprBytes bounds an expression: ample for any selection, and it
	// keeps the AST (at most a few hundred nodes) and error messages small.
	MaxExprBytes = 1024
	// MaxDepth bounds the nesting of the AST, which is the interpreter's
	// recursion depth.
	MaxDepth = 32
	// MaxWork bounds one Select: about one unit per value visited, per
	// comparison, or per 16 bytes of string scanned or built. It is several
	// passes over the largest input (8 MiB of JSON) and well under a second.
	MaxWork = 1 << 24
	// MaxBuiltBytes bounds the strings that to_string and join build in one
	// Select: four times the largest input, so memory stays bounded too.
	MaxBuiltBytes = 32 << 20
)

var (
	// ErrSyntax is a malformed or refused expression.
	ErrSyntax = errors.New("invalid jmesPath expression")
	// ErrNotFound is an expression that selects null or nothing.
	ErrNotFound = errors.New("jmesPath selected nothing")
	// ErrType is a function applied to an argument of the wrong type.
	ErrType = errors.New("jmesPath type error")
	// ErrLimit is an evaluation that would exceed MaxWork.
	ErrLimit = errors.New("jmesPath evaluation exceeds its work limit")
)

// Expr is a compiled, checked expression; safe for concurrent use.
type Expr struct {
	src  string
	ast  parsing.ASTNode
	path []step // non-nil when the expression is a plain chain of fields and indexes
}

// Compile parses and checks expr.
func Compile(expr string) (e *Expr, err error) {
	if len(expr) > MaxExprBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrSyntax, len(expr), MaxExprBytes)
	}
	// The parser is third-party code fed by tenants: a panic in it must
	// become a refused expression, not a crashed provider.
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("%w: %s: the parser failed", ErrSyntax, quoteExpr(expr))
		}
	}()
	ast, err := parsing.NewParser().Parse(expr)
	if err != nil {
		return nil, syntaxError(expr, err)
	}
	if err := check(expr, ast, 1); err != nil {
		return nil, err
	}
	return &Expr{src: expr, ast: ast, path: chain(ast)}, nil
}

// String returns the expression as written.
func (e *Expr) String() string { return e.src }

// Select evaluates e over v (maps map[string]any, []any, string,
// json.Number, float64, bool, nil, as decoded from Vault JSON with
// UseNumber). Selected values are returned as they are in v, so numbers keep
// their json.Number text. A null result is ErrNotFound, saying where the
// path stopped and which keys are there.
func (e *Expr) Select(acct *account.Account, v any) (any, error) {
	in := &interp{budget: MaxWork, acct: acct}
	r, err := in.eval(e.ast, v)
	if err == nil {
		err = in.flush()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quoteExpr(e.src), err)
	}
	if r == nil {
		return nil, e.notFound(v)
	}
	return r, nil
}
