package tmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// maxNesting bounds how deeply valueCost (and so any value a function takes
// or returns) may nest. Deeper values come only from loops like
// {{$d = dict "a" $d}}, or from a cycle made with set; the encoders and fmt
// would recurse through them without limit.
const maxNesting = 1000

// valueCost measures v the way StringBytes counts: the bytes of strings and
// []byte, plus 8 per slice element or map entry, plus the cost of what they
// hold; numbers, bools and nil cost nothing on their own. Shared references
// count each time, as serializing them would. It stops early and reports
// false once the cost passes limit or nesting passes maxNesting, so cycles
// and huge values cost at most limit/8 visits.
func valueCost(v reflect.Value, limit int) (int, bool) {
	c := costWalker{left: limit}
	ok := c.walk(v, 0)
	return limit - c.left, ok
}

// costWalker spends left; perLevel adds that many bytes per element per
// level of nesting, for encoders that indent.
type costWalker struct{ left, perLevel int }

func (c *costWalker) spend(n int) bool {
	c.left -= n
	return c.left >= 0
}

func (c *costWalker) walk(v reflect.Value, depth int) bool {
	if depth > maxNesting {
		return false
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return true
		}
		return c.walk(v.Elem(), depth+1)
	case reflect.String:
		return c.spend(v.Len())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return c.spend(v.Len())
		}
		if !c.spend((8 + c.perLevel*depth) * v.Len()) {
			return false
		}
		for i := range v.Len() {
			if !c.walk(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		if !c.spend((8 + c.perLevel*depth) * v.Len()) {
			return false
		}
		it := v.MapRange()
		for it.Next() {
			if !c.walk(it.Key(), depth+1) || !c.walk(it.Value(), depth+1) {
				return false
			}
		}
	case reflect.Struct:
		if !c.spend(8 * v.NumField()) {
			return false
		}
		for i := range v.NumField() {
			if !c.walk(v.Field(i), depth+1) {
				return false
			}
		}
	}
	return true
}

var (
	errorType = reflect.TypeFor[error]()
	anyType   = reflect.TypeFor[any]()
	intType   = reflect.TypeFor[int]()
	strType   = reflect.TypeFor[string]()
	anySlice  = reflect.TypeFor[[]any]()
)

// precheck runs after the arguments are converted and before the function,
// for functions whose result can be far larger than their arguments.
type precheck func(lim int, args []reflect.Value) error

// guard wraps fn so that every call
//   - checks the execution's context and deadline,
//   - accepts json.Number (and numeric strings) for int parameters and
//     json.Number for string parameters, as Vault JSON is decoded with UseNumber,
//   - fails with ErrTooLarge when its arguments together, or its result, cost
//     more than StringBytes (see valueCost), and runs pre before calling fn,
//   - turns fn's errors and panics into messages that name only the function:
//     sprig's and text/template's own messages may quote argument values.
//
// The wrapper's type is fn's with int and string parameters widened to any
// and results (T) or (T, error) both made (T, error).
func guard(st *execState, name string, fn any, pre precheck) any {
	fv := reflect.ValueOf(fn)
	ft := fv.Type()
	variadic := ft.IsVariadic()

	in := make([]reflect.Type, ft.NumIn())
	for i := range in {
		in[i] = widen(ft.In(i))
	}
	out := []reflect.Type{ft.Out(0), errorType}
	wt := reflect.FuncOf(in, out, variadic)
	lim := st.lim.StringBytes
	// What the account's charges name, made once per function rather than
	// at every call.
	calling, result := "calling "+name+" in a template", "the result of "+name+" in a template"

	fail := func(err error) []reflect.Value {
		ev := reflect.New(errorType).Elem()
		ev.Set(reflect.ValueOf(err))
		return []reflect.Value{reflect.Zero(ft.Out(0)), ev}
	}
	return reflect.MakeFunc(wt, func(args []reflect.Value) (results []reflect.Value) {
		if err := st.check(); err != nil {
			return fail(err)
		}
		args, err := narrow(ft, args)
		if err != nil {
			return fail(funcErr(ErrExec, "%s: %v", name, err))
		}
		size, fit := argsCost(args, lim)
		if !fit {
			return fail(funcErr(ErrTooLarge, "%s: arguments are larger than %d bytes (or nested deeper than %d)", name, lim, maxNesting))
		}
		// A function's work grows with its arguments, and so does its
		// result: charged at their size before it runs, settled after.
		if err := st.acct.Work(size+stepWork, calling); err != nil {
			return fail(err)
		}
		if err := st.acct.Charge(size+callBytes, calling); err != nil {
			return fail(err)
		}
		if pre != nil {
			if err := pre(lim, args); err != nil {
				return fail(funcErr(ErrTooLarge, "%s: %v", name, err))
			}
		}
		defer func() {
			if r := recover(); r != nil {
				// Panics carry values (sprig panics with its error text).
				results = fail(funcErr(ErrExec, "%s: failed", name))
			}
		}()
		var res []reflect.Value
		if variadic {
			res = fv.CallSlice(args)
		} else {
			res = fv.Call(args)
		}
		if len(res) == 2 && !res[1].IsNil() {
			var fe *Error
			if errors.As(res[1].Interface().(error), &fe) {
				return fail(fe) // ours, already safe to show
			}
			return fail(funcErr(ErrExec, "%s: failed", name))
		}
		made, ok := valueCost(res[0], lim)
		if !ok {
			return fail(funcErr(ErrTooLarge, "%s: result is larger than %d bytes (or nested deeper than %d)", name, lim, maxNesting))
		}
		// A result may live on in a variable: the mount holds it to the end.
		if made > size {
			if err := st.acct.Charge(made-size, result); err != nil {
				return fail(err)
			}
		} else {
			st.acct.Release(size - made)
		}
		return []reflect.Value{res[0], reflect.Zero(errorType)}
	}).Interface()
}

// callBytes is what one call allocates besides its result: the reflection
// of its arguments and results, and their boxing.
const callBytes = 1024

// argsCost is what the arguments cost together; false past lim.
func argsCost(args []reflect.Value, lim int) (int, bool) {
	total := 0
	for _, a := range args {
		c, ok := valueCost(a, lim-total)
		if !ok {
			return 0, false
		}
		total += c
	}
	return total, true
}

// widen maps int and string parameters (and ...int, ...string) to any.
func widen(t reflect.Type) reflect.Type {
	switch t {
	case intType, strType:
		return anyType
	case reflect.SliceOf(intType), reflect.SliceOf(strType):
		return anySlice
	}
	return t
}

// narrow converts widened arguments back to fn's parameter types.
func narrow(ft reflect.Type, args []reflect.Value) ([]reflect.Value, error) {
	out := make([]reflect.Value, len(args))
	for i, a := range args {
		want := ft.In(i)
		if want == widen(want) {
			out[i] = a
			continue
		}
		if want.Kind() == reflect.Slice { // the variadic tail
			s := reflect.MakeSlice(want, a.Len(), a.Len())
			for j := range a.Len() {
				v, err := convertArg(want.Elem(), a.Index(j))
				if err != nil {
					return nil, fmt.Errorf("argument %d: %w", i+j+1, err)
				}
				s.Index(j).Set(v)
			}
			out[i] = s
			continue
		}
		v, err := convertArg(want, a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

func convertArg(want reflect.Type, a reflect.Value) (reflect.Value, error) {
	var x any
	if a.IsValid() && a.CanInterface() {
		x = a.Interface()
	}
	if want == intType {
		n, err := toInt(x)
		return reflect.ValueOf(n), err
	}
	s, err := toStr(x)
	return reflect.ValueOf(s), err
}

// toInt accepts Go integers, integral floats, json.Number and numeric strings.
// Messages name types, not values.
func toInt(x any) (int, error) {
	switch v := x.(type) {
	case int:
		return v, nil
	case json.Number:
		return parseInt(string(v))
	case string:
		return parseInt(v)
	case float64:
		if v != math.Trunc(v) || v > math.MaxInt || v < math.MinInt {
			return 0, errors.New("expected an integer, got a fractional or out-of-range float")
		}
		return int(v), nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt {
			return 0, errors.New("expected an integer, got an out-of-range unsigned")
		}
		return int(rv.Uint()), nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", typeName(x))
}

func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 0)
	if err == nil {
		return int(n), nil
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr == nil && f == math.Trunc(f) && f <= math.MaxInt && f >= math.MinInt {
		return int(f), nil
	}
	return 0, errors.New("expected an integer, got a string that is not one")
}

func toStr(x any) (string, error) {
	switch v := x.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	}
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.String {
		return rv.String(), nil
	}
	return "", fmt.Errorf("expected a string, got %s", typeName(x))
}

func typeName(x any) string {
	if x == nil {
		return "nil"
	}
	return reflect.TypeOf(x).String()
}

// funcErr builds an error from a message that must not contain data values.
func funcErr(kind error, format string, args ...any) *Error {
	kinds := []error{kind}
	if kind == ErrMissing {
		kinds = append(kinds, ErrExec)
	}
	return &Error{msg: fmt.Sprintf(format, args...), kinds: kinds}
}
