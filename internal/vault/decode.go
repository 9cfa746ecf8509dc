package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
)

// decodeSecret decodes a Vault response body as api.ParseSecret does
// (numbers as json.Number, a body without any of the secret's fields taken
// whole as its data, an "errors" list refused), without the three copies
// of the body that ParseSecret and its decoder make: the values are built
// straight from raw, which the caller has already charged.
func decodeSecret(raw []byte) (*api.Secret, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := &decoder{b: raw}
	d.ws()
	if d.literal("null") {
		return &api.Secret{}, nil
	}
	if !d.next('{') {
		return nil, d.fail("a response must be a JSON object")
	}
	var s api.Secret
	err := d.members(func(key string, start int) error {
		if !strings.EqualFold(key, "data") {
			// The other fields are small: encoding/json fills them from
			// their own bytes, with its own rules.
			if err := d.skip(); err != nil {
				return err
			}
			return secretField(&s, key, raw[start:d.i])
		}
		v, err := d.value()
		if err != nil {
			return err
		}
		switch m := v.(type) {
		case nil:
			s.Data = nil
		case map[string]any:
			s.Data = m
		default:
			return d.fail("data is not an object")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !isZero(&s) {
		return &s, nil
	}
	// No field of a secret: the whole body is its data (raw JSON answers).
	d = &decoder{b: raw}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	data := v.(map[string]any)
	errs, hasErrors := data["errors"]
	switch {
	case hasErrors && len(data) == 1:
		return nil, nil
	case hasErrors:
		b, _ := json.Marshal(errs)
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, errors.New("the response's errors are not a list of strings")
		}
		return nil, errors.New(strings.Join(list, " "))
	case len(data) > 0:
		s.Data = data
	}
	return &s, nil
}

// secretField sets the field of s named key (matched as encoding/json
// matches a struct's fields) from its JSON; unknown keys are ignored.
func secretField(s *api.Secret, key string, raw []byte) error {
	var dst any
	for _, f := range []struct {
		name string
		ptr  any
	}{
		{"request_id", &s.RequestID}, {"lease_id", &s.LeaseID}, {"lease_duration", &s.LeaseDuration},
		{"renewable", &s.Renewable}, {"warnings", &s.Warnings}, {"auth", &s.Auth},
		{"wrap_info", &s.WrapInfo}, {"mount_type", &s.MountType},
	} {
		if strings.EqualFold(key, f.name) {
			dst = f.ptr
			break
		}
	}
	if dst == nil {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		// Its message may quote the value.
		return fmt.Errorf("field %s has the wrong type", key)
	}
	return nil
}

func isZero(s *api.Secret) bool {
	return s.RequestID == "" && s.LeaseID == "" && s.LeaseDuration == 0 && !s.Renewable && s.Data == nil &&
		s.Warnings == nil && s.Auth == nil && s.WrapInfo == nil && s.MountType == ""
}

// maxDecodeDepth is encoding/json's own bound on nesting.
const maxDecodeDepth = 10000

// decoder reads JSON values from b into maps of any, slices of any,
// strings, json.Number, bool and nil, as encoding/json does with UseNumber.
type decoder struct {
	b     []byte
	i     int
	depth int
}

var errSyntax = errors.New("invalid JSON")

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, d.i, what)
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next consumes c after whitespace.
func (d *decoder) next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) literal(lit string) bool {
	if strings.HasPrefix(string(d.b[d.i:min(len(d.b), d.i+len(lit))]), lit) {
		d.i += len(lit)
		return true
	}
	return false
}

// value decodes the next value.
func (d *decoder) value() (any, error) { return d.read(true) }

// skip checks the next value without building it.
func (d *decoder) skip() error {
	_, err := d.read(false)
	return err
}

func (d *decoder) read(build bool) (any, error) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, d.fail("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if d.depth++; d.depth > maxDecodeDepth {
			return nil, d.fail("nested too deeply")
		}
		defer func() { d.depth-- }()
		d.i++
		var m map[string]any
		if build {
			m = map[string]any{}
		}
		err := d.members(func(key string, _ int) error {
			v, err := d.read(build)
			if build {
				m[key] = v
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if build {
			return m, nil
		}
		return nil, nil
	case c == '[':
		if d.depth++; d.depth > maxDecodeDepth {
			return nil, d.fail("nested too deeply")
		}
		defer func() { d.depth-- }()
		d.i++
		var l []any
		if build {
			l = []any{}
		}
		if d.next(']') {
			return l, nil
		}
		for {
			v, err := d.read(build)
			if err != nil {
				return nil, err
			}
			if build {
				l = append(l, v)
			}
			if d.next(']') {
				return l, nil
			}
			if !d.next(',') {
				return nil, d.fail("expected , or ]")
			}
		}
	case c == '"':
		s, err := d.str(build)
		return s, err
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.i
		if !d.number() {
			return nil, d.fail("invalid number")
		}
		if build {
			return json.Number(d.b[start:d.i]), nil
		}
		return nil, nil
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	case d.literal("null"):
		return nil, nil
	}
	return nil, d.fail("unexpected character")
}

// members reads an object's members after its '{', calling member with
// each key and the offset of its value, which member must read.
func (d *decoder) members(member func(key string, start int) error) error {
	if d.next('}') {
		return nil
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return d.fail("expected a key")
		}
		key, err := d.str(true)
		if err != nil {
			return err
		}
		if !d.next(':') {
			return d.fail("expected :")
		}
		d.ws()
		if err := member(key, d.i); err != nil {
			return err
		}
		if d.next('}') {
			return nil
		}
		if !d.next(',') {
			return d.fail("expected , or }")
		}
	}
}

// str reads a string. Plain ASCII is taken as it is; anything with escapes
// or other bytes is unquoted as encoding/json does, invalid UTF-8 and lone
// surrogates becoming U+FFFD.
func (d *decoder) str(build bool) (string, error) {
	start := d.i
	d.i++
	plain := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			if !build {
				return "", nil
			}
			if plain {
				return string(d.b[start+1 : d.i-1]), nil
			}
			s, ok := unquote(d.b[start+1 : d.i-1])
			if !ok {
				return "", d.fail("invalid string")
			}
			return s, nil
		case c == '\\':
			plain = false
			d.i++
		case c < 0x20:
			return "", d.fail("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return "", d.fail("unterminated string")
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() bool {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// unquote decodes the inside of a JSON string with escapes or non-ASCII
// bytes.
func unquote(s []byte) (string, bool) {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch e := s[r+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if r+1 < len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(s[r+2:])); dec != unicode.ReplacementChar {
							r += 6
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c == '"' || c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

// hex4 reads the four hex digits of a \u escape, -1 if they are not.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
