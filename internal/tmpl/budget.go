package tmpl

import (
	"context"
	"fmt"
	"reflect"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// Names of the budget functions that instrument inserts. They are added to
// an instance after parsing and are absent from the parse-time function map,
// so a template that names them fails to parse ("function not defined"):
// a tenant cannot call leave to undo its nesting count.
const (
	fnStep  = "_tmplStep"
	fnEnter = "_tmplEnter"
	fnLeave = "_tmplLeave"
	fnOut   = "_tmplOut"
	fnRange = "_tmplRange"
)

// execState is the per-execution budget. One instance (and so one state) is
// used by one execution at a time.
type execState struct {
	lim      Limits
	ctx      context.Context
	acct     *account.Account
	deadline time.Time
	steps    int
	depth    int
}

func (s *execState) reset(ctx context.Context, acct *account.Account) {
	s.ctx = ctx
	s.acct = acct
	s.deadline = time.Now().Add(s.lim.Timeout)
	s.steps = 0
	s.depth = 0
}

// release lets go of the caller's context while the instance is pooled.
func (s *execState) release() { s.ctx, s.acct = nil, nil }

// check fails once the caller's context is done or the Timeout has passed.
// Every function call and step runs it, as text/template cannot be cancelled.
func (s *execState) check() error {
	if s.ctx == nil {
		return nil // parse-time map: never called
	}
	if err := s.ctx.Err(); err != nil {
		return &Error{msg: "cancelled: " + err.Error(), kinds: []error{ErrTimeout, err}}
	}
	if time.Now().After(s.deadline) {
		return &Error{msg: fmt.Sprintf("took longer than %v, the time limit of one template execution", s.lim.Timeout), kinds: []error{ErrTimeout, context.DeadlineExceeded}}
	}
	return nil
}

// stepWork is a step in the account's units (about a byte processed each):
// a loop iteration or template call costs about a microsecond.
const stepWork = 256

func (s *execState) step() (string, error) {
	s.steps++
	if s.steps > s.lim.Steps {
		return "", &Error{msg: fmt.Sprintf("used more than %d steps (loop iterations and template calls)", s.lim.Steps), kinds: []error{ErrTimeout}}
	}
	if err := s.check(); err != nil {
		return "", err
	}
	return "", s.acct.Work(stepWork, "executing a template")
}

func (s *execState) enter() (string, error) {
	s.depth++
	if s.depth > s.lim.Depth {
		return "", &Error{msg: fmt.Sprintf("template calls nested deeper than %d", s.lim.Depth), kinds: []error{ErrTooLarge}}
	}
	return s.step()
}

// leave pairs with enter. An error aborts the whole execution, so an enter
// without its leave never matters.
func (s *execState) leave() string {
	s.depth--
	return ""
}

// printBytes is what text/template's printing of a value allocates per
// byte of it: fmt formats the whole value into a buffer that grows by
// append (about five times a large value in all) before it is written.
const printBytes = 6

// out ends every printing action: it charges the printing of v before fmt
// does it, and refuses a value that could not fit the output anyway.
func (s *execState) out(v any) (any, error) {
	size, ok := valueCost(reflect.ValueOf(v), s.lim.OutputBytes)
	if !ok {
		return nil, &Error{msg: fmt.Sprintf("output over the %d-byte limit", s.lim.OutputBytes), kinds: []error{ErrTooLarge}}
	}
	if err := s.acct.Work(size, "printing a value in a template"); err != nil {
		return nil, err
	}
	return v, s.acct.Charge(printBytes*size, "printing a value in a template")
}

// rangeKeyBytes is what ranging over a map allocates per key before the
// first iteration: the keys, as reflect values, sorted.
const rangeKeyBytes = 64

// ranged ends every range's pipeline: it charges what the range makes of
// its value before it starts.
func (s *execState) ranged(v any) (any, error) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
		if err := s.acct.Charge(rv.Len()*rangeKeyBytes, "ranging over a map in a template"); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (s *execState) budgetFuncs() template.FuncMap {
	return template.FuncMap{fnStep: s.step, fnEnter: s.enter, fnLeave: s.leave, fnOut: s.out, fnRange: s.ranged}
}

// instrument inserts a step at the start of every range body, and enter/leave
// around every template body (the root's too: {{template "tmpl"}} recurses).
// Bodies of if/with inside a range run at most once per iteration, so the
// range's step covers them. It ends the pipeline of every printing action
// with out, and of every range with ranged, so that what they make is
// charged before text/template makes it.
func instrument(root *template.Template) {
	for _, t := range root.Templates() {
		if t.Tree == nil || t.Tree.Root == nil {
			continue
		}
		body := t.Tree.Root
		instrumentList(body)
		body.Nodes = append([]parse.Node{budgetAction(fnEnter, body.Pos)}, body.Nodes...)
		body.Nodes = append(body.Nodes, budgetAction(fnLeave, body.Pos))
	}
}

func instrumentList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 {
				appendCommand(n.Pipe, fnOut)
			}
		case *parse.RangeNode:
			appendCommand(n.Pipe, fnRange)
			instrumentList(n.List)
			instrumentList(n.ElseList)
			if n.List != nil {
				n.List.Nodes = append([]parse.Node{budgetAction(fnStep, n.Pos)}, n.List.Nodes...)
			}
		case *parse.IfNode:
			instrumentList(n.List)
			instrumentList(n.ElseList)
		case *parse.WithNode:
			instrumentList(n.List)
			instrumentList(n.ElseList)
		}
	}
}

// appendCommand ends pipe with "| fn".
func appendCommand(pipe *parse.PipeNode, fn string) {
	pipe.Cmds = append(pipe.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      pipe.Pos,
		Args:     []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: pipe.Pos, Ident: fn}},
	})
}

// budgetAction builds {{fn}}. The functions return "", so it prints nothing.
func budgetAction(fn string, pos parse.Pos) *parse.ActionNode {
	return &parse.ActionNode{
		NodeType: parse.NodeAction,
		Pos:      pos,
		Pipe: &parse.PipeNode{
			NodeType: parse.NodePipe,
			Pos:      pos,
			Cmds: []*parse.CommandNode{{
				NodeType: parse.NodeCommand,
				Pos:      pos,
				Args:     []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: pos, Ident: fn}},
			}},
		},
	}
}
