package tmpl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// execError rewrites an error from text/template into one that names the
// template, line and action but no value. text/template's messages may
// quote values ("range can't iterate over s3cr3t", "index out of range: 5",
// fmt-printed arguments), so its message text is kept only for the forms
// known to hold nothing but names, types and source.
func (t *Template) execError(in *template.Template, err error) error {
	var ours *Error
	isOurs := errors.As(err, &ours)
	var ee template.ExecError
	var refused *account.Error
	if errors.As(err, &refused) {
		// The mount's account refused: its message names no value.
		where := t.name
		if errors.As(err, &ee) {
			if line, action, _, ok := t.locate(in, ee); ok {
				where = fmt.Sprintf("%s: line %d: %s", t.name, line, action)
			}
		}
		return &Error{msg: where + ": " + refused.Error(), kinds: []error{ErrTooLarge, refused}}
	}
	if !errors.As(err, &ee) {
		if isOurs { // the output writer
			return &Error{msg: t.name + ": " + ours.msg, kinds: ours.kinds}
		}
		return &Error{msg: t.name + ": execution failed", kinds: []error{ErrExec}}
	}
	line, action, rest, ok := t.locate(in, ee)
	where := t.name
	if ok {
		where = fmt.Sprintf("%s: line %d: %s", t.name, line, action)
	}
	if isOurs {
		return &Error{msg: where + ": " + ours.msg, kinds: ours.kinds}
	}
	msg, kinds := classify(rest, ok)
	return &Error{msg: where + ": " + msg, kinds: kinds}
}

// safePrefixes are text/template messages that hold only source names and
// Go types. missing marks those caused by an absent key.
var safePrefixes = []struct {
	prefix  string
	missing bool
}{
	{"map has no entry for key ", true},
	{"nil data; no entry for key ", true},
	{"nil pointer evaluating ", true},
	{"can't evaluate field ", false},
	{"wrong number of args for ", false},
	{"wrong type for value; expected ", false},
	{"invalid value; expected ", false},
	{"exceeded maximum template depth", false},
	{"undefined variable", false},
	{"can't give argument to non-function ", false},
	{"cannot assign nil to ", false},
	{"template \"", false}, // template "x" not defined
}

func classify(rest string, located bool) (string, []error) {
	if !located {
		return "execution failed", []error{ErrExec}
	}
	for _, p := range safePrefixes {
		if strings.HasPrefix(rest, p.prefix) {
			if p.missing {
				return quoteKeyBounded(rest), []error{ErrMissing, ErrExec}
			}
			return truncate(rest, 160), []error{ErrExec}
		}
	}
	switch {
	case strings.HasPrefix(rest, "error calling "):
		name, _, _ := strings.Cut(strings.TrimPrefix(rest, "error calling "), ":")
		return "error calling " + truncate(name, 64), []error{ErrExec}
	case strings.HasPrefix(rest, "range can't iterate over "):
		return "range can't iterate over this value", []error{ErrExec}
	case strings.HasPrefix(rest, "if/with can't use "):
		return "if/with can't use this value", []error{ErrExec}
	}
	return "execution failed", []error{ErrExec}
}

// quoteKeyBounded truncates the quoted key at the end of a missing-key
// message to 64 bytes.
func quoteKeyBounded(rest string) string {
	i := strings.IndexByte(rest, '"')
	if i < 0 {
		return truncate(rest, 160)
	}
	key, err := strconv.Unquote(rest[i:])
	if err != nil {
		return truncate(rest, 160)
	}
	return rest[:i] + strconv.Quote(truncate(key, 64))
}

// locate finds the node an ExecError is about: its message starts with
// "template: tmpl:LINE:COL: executing NAME at <NODE>: ", and NODE is the
// node's String(), which may itself contain ">: ". So find the nodes at that
// position and take the one whose context matches exactly; rest is what
// follows.
func (t *Template) locate(in *template.Template, ee template.ExecError) (line int, action, rest string, ok bool) {
	msg := ee.Err.Error()
	loc, found := strings.CutPrefix(msg, "template: "+rootName+":")
	if !found {
		return 0, "", "", false
	}
	lineStr, loc, _ := strings.Cut(loc, ":")
	colStr, _, _ := strings.Cut(loc, ":")
	line, err1 := strconv.Atoi(lineStr)
	col, err2 := strconv.Atoi(colStr)
	if err1 != nil || err2 != nil {
		return 0, "", "", false
	}
	pos := lineOffset(t.src, line) + col
	if pos < 0 || pos > len(t.src) {
		return 0, "", "", false
	}
	best := -1
	for _, tt := range in.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		walkNodes(tt.Tree.Root, func(n parse.Node) {
			if int(n.Position()) != pos {
				return
			}
			l, c := tt.Tree.ErrorContext(n)
			p := fmt.Sprintf("template: %s: executing %q at <%s>: ", l, ee.Name, c)
			if strings.HasPrefix(msg, p) && len(p) > best {
				best, rest = len(p), msg[len(p):]
			}
		})
	}
	if best < 0 {
		return 0, "", "", false
	}
	return line, actionAt(t.src, pos), rest, true
}

// lineOffset is the byte offset of the start of line (1-based) in s, or -1.
func lineOffset(s string, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off
}

// actionAt is the source of the action around pos, bounded: source is not
// secret, but it may be 64 KiB on one line.
func actionAt(src string, pos int) string {
	start := strings.LastIndex(src[:pos], "{{")
	end := strings.Index(src[pos:], "}}")
	if start < 0 || end < 0 {
		return "at " + strconv.Quote(truncate(src[pos:], 40))
	}
	a := src[start : pos+end+2]
	return strings.Join(strings.Fields(truncate(a, 64)), " ")
}

// walkNodes calls visit on n and every node below it.
func walkNodes(n parse.Node, visit func(parse.Node)) {
	if n == nil || isNilNode(n) {
		return
	}
	visit(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walkNodes(c, visit)
		}
	case *parse.ActionNode:
		walkNodes(n.Pipe, visit)
	case *parse.PipeNode:
		for _, v := range n.Decl {
			walkNodes(v, visit)
		}
		for _, c := range n.Cmds {
			walkNodes(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkNodes(a, visit)
		}
	case *parse.ChainNode:
		walkNodes(n.Node, visit)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		walkNodes(n.Pipe, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walkNodes(b.Pipe, visit)
	walkNodes(b.List, visit)
	walkNodes(b.ElseList, visit)
}

// isNilNode catches typed nil pointers (an absent ElseList or Pipe).
func isNilNode(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		return n == nil
	case *parse.PipeNode:
		return n == nil
	}
	return false
}
