// Package tmpl renders files from Vault secrets with a hermetic, bounded
// text/template engine.
//
// Templates come from SecretProviderClass authors, who are untrusted tenants
// on a shared node. So a template cannot read the environment, files, the
// network, the clock or randomness; every execution is bounded in steps,
// nesting, wall-clock time, intermediate value size and output size; and
// errors name the template, the line and the action but never quote a value
// from the data.
package tmpl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrSyntax: the template does not parse or uses an unknown function.
	ErrSyntax = errors.New("template syntax error")
	// ErrExec: execution failed (wrong type, failing function, ...).
	ErrExec = errors.New("template execution error")
	// ErrMissing: execution failed on a missing map key or index. It is also ErrExec.
	ErrMissing = errors.New("missing key")
	// ErrTooLarge: the source, a value, the output or the call nesting passed its limit.
	ErrTooLarge = errors.New("template limit exceeded")
	// ErrTimeout: the step budget, the Timeout or the caller's context ran out.
	ErrTimeout = errors.New("template budget exhausted")
)

// Limits bound one template. A zero or negative field takes its value from
// DefaultLimits, so a caller can set only what it cares about.
type Limits struct {
	SourceBytes int           // template source size, checked by Parse
	OutputBytes int           // rendered output size
	StringBytes int           // largest value any function may take or return, measured by valueCost
	Steps       int           // budget of loop iterations + template calls per execution
	Timeout     time.Duration // wall-clock bound per execution
	Depth       int           // nesting of {{template}} calls
}

// DefaultLimits returns limits sized for secret files:
//   - SourceBytes 64 KiB: a hand-written template is a few KiB; this leaves room
//     for embedded static config while keeping parse time and error contexts small.
//   - OutputBytes 1 MiB: the size limit of a Kubernetes Secret, which synced
//     files end up in, and well inside the driver's 4 MiB gRPC message.
//   - StringBytes 1 MiB: no intermediate needs to be larger than the output.
//   - Steps 100,000: a thousand-item list with a few nested loops uses under
//     10,000; 100,000 cheap steps take milliseconds.
//   - Timeout 1 s: renders take microseconds; this is a backstop for costly
//     functions (regexps, hashes on large inputs) that steps do not count.
//   - Depth 100: recursion deeper than that is an attack, and each level costs
//     goroutine stack.
func DefaultLimits() Limits {
	return Limits{
		SourceBytes: 64 << 10,
		OutputBytes: 1 << 20,
		StringBytes: 1 << 20,
		Steps:       100_000,
		Timeout:     time.Second,
		Depth:       100,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.SourceBytes <= 0 {
		l.SourceBytes = d.SourceBytes
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.StringBytes <= 0 {
		l.StringBytes = d.StringBytes
	}
	if l.Steps <= 0 {
		l.Steps = d.Steps
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.Depth <= 0 {
		l.Depth = d.Depth
	}
	return l
}

// rootName is the name text/template knows the template by. A fixed name keeps
// the "name:line:col" locations in its messages parseable whatever the
// caller's name contains.
const rootName = "tmpl"

// Template is a parsed template. It is safe for concurrent use.
type Template struct {
	name  string
	src   string
	lim   Limits
	root  *template.Template // parsed and instrumented; never executed itself
	execs sync.Pool          // of *instance
	// mutates is set when the source may call a function that changes a
	// map in place; only then is the data copied before each execution,
	// which costs about 8 ms per 3.5 MB of secrets.
	mutates bool
}

// mutators finds the functions that change their map argument in place.
// A match in plain text only costs a copy.
var mutators = regexp.MustCompile(`\b(set|unset|merge|mergeOverwrite|mustMerge|mustMergeOverwrite)\b`)

// instance is a clone of root whose functions are bound to one execState,
// so executions on different goroutines share no mutable state.
type instance struct {
	t  *template.Template
	st *execState
}

// Parse parses src (named name, e.g. the objectName) with this package's
// function set and missingkey=error, and instruments it with budget checks.
func Parse(name, src string, lim Limits) (*Template, error) {
	lim = lim.withDefaults()
	if len(src) > lim.SourceBytes {
		return nil, &Error{
			msg:   fmt.Sprintf("%s: template is %d bytes, over the %d-byte limit", name, len(src), lim.SourceBytes),
			kinds: []error{ErrTooLarge},
		}
	}
	root, err := template.New(rootName).
		Option("missingkey=error").
		Funcs(funcMap(&execState{lim: lim}, src)).
		Parse(src)
	if err != nil {
		return nil, &Error{msg: name + ": " + parseMessage(err.Error()), kinds: []error{ErrSyntax}}
	}
	if root.Tree == nil {
		// Only {{define}}s: rendering it would fail on every call.
		return nil, &Error{msg: name + ": template has no content outside {{define}}", kinds: []error{ErrSyntax}}
	}
	instrument(root)
	t := &Template{name: name, src: src, lim: lim, root: root, mutates: mutators.MatchString(src)}
	return t, nil
}

// instanceBytes is what newInstance allocates, as
// TestInstanceBytesCoversNewInstance measures it: mostly the guarded
// function map, whatever the source.
const instanceBytes = 192 << 10

func (t *Template) newInstance() *instance {
	st := &execState{lim: t.lim}
	c, err := t.root.Clone()
	if err != nil {
		// Clone fails only after an html/template escape, which cannot happen here.
		panic(fmt.Sprintf("tmpl: clone: %v", err))
	}
	c.Funcs(funcMap(st, t.src)).Funcs(st.budgetFuncs())
	return &instance{t: c, st: st}
}

// Execute renders the template with data (maps, slices, strings,
// json.Number, bool and nil as decoded from Vault JSON) and returns the
// output. data is copied first when the template may mutate maps (set,
// unset, merge), so it never touches the caller's values, which other
// goroutines may be reading.
// What it makes (values, output) and its work are charged to acct, which
// bounds every template of the mount together; the Limits bound one
// execution for a clear message.
func (t *Template) Execute(ctx context.Context, acct *account.Account, data any) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{msg: t.name + ": not started: " + err.Error(), kinds: []error{ErrTimeout, err}}
	}
	in, _ := t.execs.Get().(*instance)
	if in == nil {
		// A clone with its own bound function map, made when no idle one
		// is pooled: charged before it is made.
		if err := acct.Charge(instanceBytes, t.name+": preparing an execution"); err != nil {
			return nil, err
		}
		in = t.newInstance()
	}
	defer t.execs.Put(in)
	in.st.reset(ctx, acct)
	defer in.st.release()

	if t.mutates {
		if err := acct.Charge(int(account.ValueBytes(data)), t.name+": copying the data"); err != nil {
			return nil, err
		}
		data = copyData(data)
	}
	w := &limitWriter{max: t.lim.OutputBytes, acct: acct}
	if err := in.t.Execute(w, data); err != nil {
		return nil, t.execError(in.t, err)
	}
	return w.buf.Bytes(), nil
}

// limitWriter fails once more than max bytes are written. text/template
// returns a writer's error unwrapped, so the *Error arrives intact.
type limitWriter struct {
	buf  bytes.Buffer
	max  int
	acct *account.Account
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, &Error{msg: fmt.Sprintf("output over the %d-byte limit", w.max), kinds: []error{ErrTooLarge}}
	}
	// Twice: the buffer doubles as it grows. Printing a value is charged
	// before fmt formats it (execState.out).
	if err := w.acct.Charge(2*len(p), "writing a template's output"); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// Error is the error type returned by Parse and Execute. Its message never
// contains a value from the data; errors.Is matches its kinds (the sentinels
// above, and context errors).
type Error struct {
	msg   string
	kinds []error
}

func (e *Error) Error() string   { return e.msg }
func (e *Error) Unwrap() []error { return e.kinds }

// truncate bounds a piece of source or a key quoted in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Back up to a rune boundary so the message stays valid UTF-8.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// parseMessage turns "template: tmpl:3: msg" into "line 3: msg", with msg
// bounded since it may quote source (a long identifier, a bad number).
func parseMessage(m string) string {
	m = strings.TrimPrefix(m, "template: ")
	if rest, ok := strings.CutPrefix(m, rootName+":"); ok {
		if i := strings.Index(rest, ": "); i > 0 && isDigits(rest[:i]) {
			msg := strings.ReplaceAll(rest[i+2:], " at "+rootName+":", " at line ")
			return "line " + rest[:i] + ": " + truncate(msg, 120)
		}
		m = rest
	}
	return truncate(m, 120)
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
