package spc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The lists docs/parameters.md is checked against (cmd/provider's
// TestDocsNameEveryParameter) must be the ones the parser reads. These tests
// read the package's source, so that a new Key constant or a new case of
// parseObject's switch cannot be left out of them.

// TestClassParametersNameEveryKey: every Key constant that is not a key the
// driver adds is in ClassParameters.
func TestClassParametersNameEveryKey(t *testing.T) {
	f := parseSource(t, "params.go")
	var keys []string
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if !strings.HasPrefix(name.Name, "Key") || i >= len(spec.Values) {
				continue
			}
			if v := stringLit(t, spec.Values[i]); !strings.HasPrefix(v, "csi.storage.k8s.io/") {
				keys = append(keys, v)
			}
		}
		return false
	})
	if len(keys) == 0 {
		t.Fatal("no Key constants found in params.go")
	}
	if got, want := sorted(ClassParameters), sorted(keys); !slices.Equal(got, want) {
		t.Errorf("ClassParameters = %q, want the parameter Key constants %q", got, want)
	}
}

// TestObjectFieldsAreTheParsedFields: ObjectFields lists exactly the field
// names parseObject's switch on the field name (k.Value) handles.
func TestObjectFieldsAreTheParsedFields(t *testing.T) {
	f := parseSource(t, "objects.go")
	var cases []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "parseObject" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok {
				return true
			}
			sel, ok := sw.Tag.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Value" {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "k" {
				return true
			}
			for _, s := range sw.Body.List {
				for _, e := range s.(*ast.CaseClause).List {
					cases = append(cases, stringLit(t, e))
				}
			}
			return false
		})
	}
	if len(cases) == 0 {
		t.Fatal("no switch on k.Value (the field name) found in parseObject")
	}
	if got, want := sorted(ObjectFields()), sorted(cases); !slices.Equal(got, want) {
		t.Errorf("ObjectFields() = %q, want the fields parseObject handles %q", got, want)
	}
}

func parseSource(t *testing.T, name string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func stringLit(t *testing.T, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Fatalf("%T is not a string literal", e)
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
