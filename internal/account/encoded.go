package account

import (
	"encoding/json"
	"unicode/utf8"
)

// EncodedBytes bounds the JSON encoding of a decoded value as json.Marshal
// writes it (HTML characters, control characters and invalid UTF-8
// escaped), so that it can be charged before it is made. It visits each
// value and byte once.
func EncodedBytes(v any) int {
	switch t := v.(type) {
	case string:
		return quotedBytes(t)
	case json.Number:
		return len(t)
	case map[string]any:
		n := 2
		for k, e := range t {
			n += quotedBytes(k) + 2 + EncodedBytes(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range t {
			n += 1 + EncodedBytes(e)
		}
		return n
	default:
		// null, booleans, numbers of other decoders
		return 32
	}
}

// MarshalBytes is what json.Marshal allocates encoding v: its buffer grows
// by append (about five times the encoding in all, for a large one), the
// encoding is copied out of it, and each map's keys are sorted on the way;
// TestMarshalBytesCoversMarshal measures up to nine times the encoding.
func MarshalBytes(v any) int {
	return 10 * EncodedBytes(v)
}

// quotedBytes is s as a JSON string.
func quotedBytes(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			case c == '"' || c == '\\':
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
