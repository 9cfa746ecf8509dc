package nested

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxJSONDepth bounds the nesting of a value parsed by ParseJSONValue.
const MaxJSONDepth = 100

// ErrJSON is a secret value that is not the JSON document it should be.
var ErrJSON = errors.New("secret value is not valid JSON")

// ParseJSONValue decodes s, a secret value holding a JSON document, as
// Select expects it (numbers as json.Number). It refuses trailing data and
// nesting deeper than MaxJSONDepth. Its errors give a byte offset and never
// quote s: encoding/json's would show the offending character.
func ParseJSONValue(s string) (any, error) {
	if err := checkDepth(s); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value at byte %d", ErrJSON, dec.InputOffset())
	}
	return v, nil
}

func jsonError(err error, off int64) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty", ErrJSON)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: it ends early", ErrJSON)
	case errors.As(err, &se):
		off = se.Offset
	}
	return fmt.Errorf("%w: syntax error at byte %d", ErrJSON, off)
}

// checkDepth scans brackets outside strings, so a deep document is refused
// before the decoder recurses into it.
func checkDepth(s string) error {
	depth := 0
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > MaxJSONDepth {
				return fmt.Errorf("%w: nested more than %d levels deep at byte %d", ErrJSON, MaxJSONDepth, i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
