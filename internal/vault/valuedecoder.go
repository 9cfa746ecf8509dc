package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vault-csi-provider/vault-csi-provider/internal/jsonvalue"
)

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
		n := jsonvalue.NumberLen(d.b[d.i:])
		if n == 0 {
			return nil, d.fail("invalid number")
		}
		d.i += n
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
