package nested

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vault-csi-provider/vault-csi-provider/internal/jsonvalue"
)

// function is one allowed JMESPath function. Each one returns a scalar, a
// part of its arguments, or a list of parts, except to_string and join,
// which charge the size of the string before building it.
type function struct {
	minArgs, maxArgs int // maxArgs -1: variadic
	call             func(in *interp, name string, args []any) (any, error)
}

func (f function) arity() string {
	switch {
	case f.maxArgs < 0:
		return fmt.Sprintf("%d or more arguments", f.minArgs)
	case f.minArgs == 1 && f.maxArgs == 1:
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", f.minArgs)
}

// functions is the allowed set, chosen for selecting and testing values.
// Left out: anything that builds bigger values (pad_left, pad_right,
// replace, to_array, merge, zip, items, from_items, group_by, split), the
// ones taking &expr (map, sort_by, min_by, max_by, find_first) and the
// arithmetic ones (sum, avg, abs, ceil, floor), none of which selection
// needs.
var functions map[string]function

func init() {
	functions = map[string]function{
		"length":      {1, 1, fnLength},
		"keys":        {1, 1, fnKeys},
		"values":      {1, 1, fnValues},
		"contains":    {2, 2, fnContains},
		"starts_with": {2, 2, fnAffix},
		"ends_with":   {2, 2, fnAffix},
		"to_string":   {1, 1, fnToString},
		"to_number":   {1, 1, fnToNumber},
		"type":        {1, 1, func(_ *interp, _ string, a []any) (any, error) { return TypeName(a[0]), nil }},
		"max":         {1, 1, fnMinMax},
		"min":         {1, 1, fnMinMax},
		"sort":        {1, 1, fnSort},
		"reverse":     {1, 1, fnReverse},
		"join":        {2, 2, fnJoin},
		"not_null":    {1, -1, fnNotNull},
	}
}

func functionNames() string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// typeErr names the function, argument and types involved, never a value.
func typeErr(name string, arg int, got any, want string) error {
	return fmt.Errorf("%w: %s argument %d is %s, want %s", ErrType, name, arg, article(TypeName(got)), want)
}

func article(t string) string {
	if strings.ContainsAny(t[:1], "aeiou") {
		return "an " + t
	}
	return "a " + t
}

func fnLength(in *interp, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case string:
		if err := in.spendBytes(len(v)); err != nil {
			return nil, err
		}
		return json.Number(strconv.Itoa(utf8.RuneCountInString(v))), nil
	case []any:
		return json.Number(strconv.Itoa(len(v))), nil
	case map[string]any:
		return json.Number(strconv.Itoa(len(v))), nil
	}
	return nil, typeErr(name, 1, a[0], "a string, array or object")
}

func fnKeys(in *interp, name string, a []any) (any, error) {
	m, ok := a[0].(map[string]any)
	if !ok {
		return nil, typeErr(name, 1, a[0], "an object")
	}
	keys, err := in.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	// Each key boxed in the list.
	if err := in.hold(len(keys)); err != nil {
		return nil, err
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, nil
}

func fnValues(in *interp, name string, a []any) (any, error) {
	m, ok := a[0].(map[string]any)
	if !ok {
		return nil, typeErr(name, 1, a[0], "an object")
	}
	return in.values(m)
}

func fnContains(in *interp, name string, a []any) (any, error) {
	switch s := a[0].(type) {
	case string:
		sub, ok := a[1].(string)
		if !ok {
			return nil, typeErr(name, 2, a[1], "a string when searching a string")
		}
		if err := in.spendBytes(len(s) + len(sub)); err != nil {
			return nil, err
		}
		return strings.Contains(s, sub), nil
	case []any:
		for _, e := range s {
			eq, err := in.equal(e, a[1])
			if err != nil || eq {
				return eq, err
			}
		}
		return false, nil
	}
	return nil, typeErr(name, 1, a[0], "a string or array")
}

func fnAffix(in *interp, name string, a []any) (any, error) {
	for i := range a {
		if _, ok := a[i].(string); !ok {
			return nil, typeErr(name, i+1, a[i], "a string")
		}
	}
	s, affix := a[0].(string), a[1].(string)
	if err := in.spendBytes(len(affix)); err != nil {
		return nil, err
	}
	if name == "starts_with" {
		return strings.HasPrefix(s, affix), nil
	}
	return strings.HasSuffix(s, affix), nil
}

func fnToString(in *interp, _ string, a []any) (any, error) {
	if s, ok := a[0].(string); ok {
		return s, nil
	}
	// Size the encoding first: nested to_string over lists of strings
	// doubles the escaping at each level.
	n, err := in.encodedSize(a[0])
	if err != nil {
		return nil, err
	}
	if err := in.build(n); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a[0]); err != nil {
		// Only an invalid json.Number can get here; name no value.
		return nil, fmt.Errorf("%w: to_string: cannot encode %s", ErrType, article(TypeName(a[0])))
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// encodedSize is an upper bound on the JSON encoding of v, charging one
// unit per value visited.
func (in *interp) encodedSize(v any) (int, error) {
	if err := in.spend(1); err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case string:
		return 6*len(v) + 2, nil
	case json.Number:
		return len(v), nil
	case []any, map[string]any:
		size := 2
		add := func(x any, extra int) error {
			n, err := in.encodedSize(x)
			size += n + extra
			if size > MaxBuiltBytes {
				return ErrLimit
			}
			return err
		}
		if l, ok := v.([]any); ok {
			for _, e := range l {
				if err := add(e, 1); err != nil {
					return 0, err
				}
			}
			return size, nil
		}
		for k, e := range v.(map[string]any) {
			if err := add(e, 6*len(k)+4); err != nil {
				return 0, err
			}
		}
		return size, nil
	}
	return 32, nil // null, bool, float64
}

func fnToNumber(in *interp, _ string, a []any) (any, error) {
	switch v := a[0].(type) {
	case json.Number, float64:
		return v, nil
	case string:
		// A JSON number as text becomes that number, exactly, sharing the
		// text; anything else is null, as the spec says.
		if err := in.spendBytes(len(v)); err != nil {
			return nil, err
		}
		if len(v) > 0 && jsonvalue.NumberLen(v) == len(v) {
			return json.Number(v), nil
		}
	}
	return nil, nil
}

func fnReverse(in *interp, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case []any:
		if err := in.spend(len(v) + 1); err != nil {
			return nil, err
		}
		if err := in.hold(len(v)); err != nil {
			return nil, err
		}
		out := slices.Clone(v)
		slices.Reverse(out)
		return out, nil
	case string:
		// The runes, and the string made of them.
		if err := in.build(5 * len(v)); err != nil {
			return nil, err
		}
		r := []rune(v)
		slices.Reverse(r)
		return string(r), nil
	}
	return nil, typeErr(name, 1, a[0], "a string or array")
}

func fnJoin(in *interp, name string, a []any) (any, error) {
	sep, ok := a[0].(string)
	if !ok {
		return nil, typeErr(name, 1, a[0], "a string")
	}
	l, ok := a[1].([]any)
	if !ok {
		return nil, typeErr(name, 2, a[1], "an array of strings")
	}
	// Size it first: a long separator times a long list is quadratic.
	size := 0
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s argument 2 holds %s, want an array of strings", ErrType, name, article(TypeName(e)))
		}
		size += len(s) + len(sep)
		if size > MaxBuiltBytes {
			return nil, ErrLimit
		}
	}
	if err := in.build(size); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(size)
	for i, e := range l {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(e.(string))
	}
	return b.String(), nil
}

func fnNotNull(_ *interp, _ string, a []any) (any, error) {
	for _, v := range a {
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}
