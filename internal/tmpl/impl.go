package tmpl

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// rangeCount is the number of values start, start+step, ... before stop,
// computed in uint64 so that no input overflows (sprig's untilStep loops
// forever when start+k*step wraps around).
func rangeCount(start, stop, step int) uint64 {
	switch {
	case step > 0 && start < stop:
		diff, s := uint64(stop)-uint64(start), uint64(step)
		return diff/s + boolToU(diff%s != 0)
	case step < 0 && start > stop:
		diff, s := uint64(start)-uint64(stop), uint64(-(step+1))+1
		return diff/s + boolToU(diff%s != 0)
	}
	return 0
}

func boolToU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// untilStep is sprig's untilStep with its size checked before allocating:
// each int costs 8 bytes of StringBytes.
func untilStep(lim, start, stop, step int) ([]int, error) {
	n := rangeCount(start, stop, step)
	if n > uint64(lim/8) {
		return nil, funcErr(ErrTooLarge, "untilStep: %d values would be over the %d-byte limit", n, lim)
	}
	v := make([]int, n)
	x := start
	for i := range v {
		v[i] = x
		x += step
	}
	return v, nil
}

func until(lim, n int) ([]int, error) {
	step := 1
	if n < 0 {
		step = -1
	}
	return untilStep(lim, 0, n, step)
}

// seq is sprig's seq (like GNU seq: [start [step]] end, inclusive), sized
// before it is built.
func seq(lim int, p ...int) (string, error) {
	var start, step, end int
	switch len(p) {
	case 1:
		start, end, step = 1, p[0], 1
		if end < start {
			step = -1
		}
	case 2:
		start, end, step = p[0], p[1], 1
		if end < start {
			step = -1
		}
	case 3:
		start, step, end = p[0], p[1], p[2]
		if end < start && step >= 0 || end >= start && step <= 0 {
			return "", nil
		}
	default:
		return "", nil
	}
	// Inclusive: one more than the values strictly before end.
	n := rangeCount(start, end, step)
	if last := uint64(start) + n*uint64(step); int(last) == end && n < math.MaxUint64 {
		n++
	}
	width := max(len(strconv.Itoa(start)), len(strconv.Itoa(end))) + 1
	if n > uint64(lim/width) {
		return "", funcErr(ErrTooLarge, "seq: %d values would be over the %d-byte limit", n, lim)
	}
	var b strings.Builder
	x := start
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(x))
		x += step
	}
	return b.String(), nil
}

func b64dec(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", funcErr(ErrExec, "b64dec: input is not valid base64")
	}
	return string(b), nil
}

func b32dec(s string) (string, error) {
	b, err := base32.StdEncoding.DecodeString(s)
	if err != nil {
		return "", funcErr(ErrExec, "b32dec: input is not valid base32")
	}
	return string(b), nil
}

// fromJSON decodes like the provider decodes Vault responses (UseNumber), and
// fails instead of returning sprig's {"Error": "...a quote of the input..."}.
func fromJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return nil, funcErr(ErrExec, "fromJson: data after the JSON value")
		}
		return v, nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, funcErr(ErrExec, "fromJson: invalid JSON at byte %d", se.Offset)
	}
	return nil, funcErr(ErrExec, "fromJson: invalid JSON")
}

// yamlLine finds the line number in a yaml.v3 error; the rest of the
// message may quote the input.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+):`)

func fromYAML(s string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return nil, funcErr(ErrExec, "fromYaml: invalid YAML at line %s", m[1])
		}
		return nil, funcErr(ErrExec, "fromYaml: invalid YAML")
	}
	return v, nil
}

// toYAML drops the final newline, like Helm's toYaml, so that
// {{ toYaml .x | nindent 2 }} composes.
func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(yamlNumbers(v))
	if err != nil {
		return "", funcErr(ErrExec, "toYaml: cannot encode this value")
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// yamlNumbers copies v with json.Numbers made int64 or float64: yaml.v3
// would write json.Number("5432") as the string "5432".
func yamlNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return string(v)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = yamlNumbers(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = yamlNumbers(e)
		}
		return s
	}
	return v
}

// pemJoin joins strings and lists of strings (a certificate, a ca_chain) into
// one PEM bundle: each part trimmed and ended by exactly one newline, empty
// parts and nulls skipped.
func pemJoin(parts ...any) (string, error) {
	var b strings.Builder
	var add func(v reflect.Value, depth int) error
	add = func(v reflect.Value, depth int) error {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		switch {
		case !v.IsValid():
			return nil
		case v.Kind() == reflect.String:
			if s := strings.TrimSpace(v.String()); s != "" {
				b.WriteString(s)
				b.WriteByte('\n')
			}
			return nil
		case (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && depth < 8:
			for i := range v.Len() {
				if err := add(v.Index(i), depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		return funcErr(ErrExec, "pemJoin: expected strings or lists of strings, got %s", v.Type())
	}
	for _, p := range parts {
		if err := add(reflect.ValueOf(p), 0); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// index is the builtin index made strict: a missing map key or an index out
// of range is ErrMissing. The key is quoted only when the template source
// contains it, since a computed key may come from a secret.
func index(src string, item any, keys ...any) (any, error) {
	v := reflect.ValueOf(item)
	for _, k := range keys {
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v = reflect.Value{}
				break
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Invalid:
			return nil, funcErr(ErrMissing, "index: nothing to index (null)")
		case reflect.Map:
			kv, err := mapKey(v.Type().Key(), k)
			if err != nil {
				return nil, err
			}
			e := v.MapIndex(kv)
			if !e.IsValid() {
				if s, ok := k.(string); ok && s != "" && strings.Contains(src, s) {
					return nil, funcErr(ErrMissing, "map has no entry for key %q", truncate(s, 64))
				}
				return nil, funcErr(ErrMissing, "map has no entry for the computed key")
			}
			v = e
		case reflect.Slice, reflect.Array, reflect.String:
			i, err := toInt(k)
			if err != nil {
				return nil, funcErr(ErrExec, "index: %v", err)
			}
			if i < 0 || i >= v.Len() {
				return nil, funcErr(ErrMissing, "index out of range")
			}
			v = v.Index(i)
		default:
			return nil, funcErr(ErrExec, "index: can't index a %s", v.Type())
		}
	}
	if !v.IsValid() {
		return nil, nil
	}
	return v.Interface(), nil
}

func mapKey(t reflect.Type, k any) (reflect.Value, error) {
	kv := reflect.ValueOf(k)
	switch {
	case !kv.IsValid():
		return reflect.Value{}, funcErr(ErrExec, "index: nil map key")
	case kv.Type().AssignableTo(t) && kv.Type().Comparable():
		return kv, nil
	case t.Kind() == reflect.String && kv.Kind() == reflect.String:
		return kv.Convert(t), nil
	}
	return reflect.Value{}, funcErr(ErrExec, "index: a %s key for a map of %s keys", kv.Type(), t)
}

// printfCheck bounds printf before fmt pads: fmt caps each width and
// precision at 1e6, but a format may hold thousands of verbs.
func printfCheck(lim int, a []reflect.Value) error {
	format := a[0].String()
	pad, amplify := 0, 1
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[i]) >= 0; i++ {
			switch c := format[i]; {
			case c == '*':
				pad += 1e6
			case c >= '0' && c <= '9':
				n := 0
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					n = min(n*10+int(format[i]-'0'), 1e6)
				}
				i--
				pad += n
			}
		}
		if i < len(format) && strings.IndexByte("xXq", format[i]) >= 0 {
			amplify = 4 // hex doubles, %q escapes up to \x00 per byte
		}
		if pad > lim {
			break
		}
	}
	args, _ := valueCost(a[1], lim)
	if err := fits(lim, len(format)+pad+32*a[1].Len(), amplify, args); err != nil {
		return fmt.Errorf("printf: %w", err)
	}
	return nil
}
