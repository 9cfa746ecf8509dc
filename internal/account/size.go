package account

import (
	"encoding/json"
)

// What decoded JSON costs in memory on a 64-bit Go (1.26, Swiss-table
// maps), as TestJSONBytesCoversDecoding measures it: generous, so a charge
// is never below what decoding allocates.
const (
	// StringBytes is a string or json.Number boxed in an interface: its
	// header, plus the rounding of its allocation.
	StringBytes = 32
	// MapBytes is a map's header and its first table; MapEntryBytes an
	// entry, with the tables a growing map leaves behind.
	MapBytes      = 320
	MapEntryBytes = 96
	// SliceBytes is a slice's header; SliceElemBytes an element, with the
	// arrays a growing slice leaves behind and the decoder's own work.
	SliceBytes     = 96
	SliceElemBytes = 112
)

// JSONBytes is what the values decoded from the JSON document raw (maps of
// string to any, slices of any, strings and json.Number) take at most,
// with what decoding them leaves behind. It scans raw once without
// allocating, so a body can be charged before it is decoded. raw need not
// be valid JSON: the estimate only covers a valid document. A decoder that
// copies raw first (encoding/json's Decoder) costs DecoderCopy more.
func JSONBytes[T ~string | ~[]byte](raw T) int64 {
	// The decoded document's own root, whatever it holds.
	n := int64(4 << 10)
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '{':
			n += MapBytes
		case '[':
			n += SliceBytes
		case ':':
			n += MapEntryBytes
		case ',':
			// An element of an array, or an entry of a map (charged by
			// its ':'); charged as an element either way.
			n += SliceElemBytes
		case '"':
			start := i
			escaped := false
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					escaped = true
					i++
				}
			}
			size := int64(i - start)
			if escaped {
				// Unquoting builds the value in a buffer first.
				size *= 2
			}
			if size > 32<<10 {
				// A large allocation is rounded up to whole pages.
				size += 8 << 10
			}
			n += StringBytes + size
		default:
			if c == '-' || (c >= '0' && c <= '9') {
				start := i
				for i+1 < len(raw) && isNumberByte(raw[i+1]) {
					i++
				}
				n += StringBytes + int64(i-start+1)
			}
		}
	}
	// The first element of each array has no ','.
	return n + SliceElemBytes
}

// DecoderCopy is what an encoding/json Decoder allocates copying a
// document of n bytes into its buffer, which grows by doubling: about four
// times n measured, charged at five so that the rounding of the last
// buffer never passes it.
func DecoderCopy(n int) int64 { return 5 * int64(n) }

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// ValueBytes is what the decoded JSON value v holds, as JSONBytes counts it
// (without a decoder's buffer). Shared parts count each time they are
// reached.
func ValueBytes(v any) int64 {
	switch t := v.(type) {
	case string:
		return StringBytes + int64(len(t))
	case json.Number:
		return StringBytes + int64(len(t))
	case []byte:
		return StringBytes + int64(len(t))
	case map[string]any:
		n := MapBytes + int64(len(t))*MapEntryBytes
		for k, e := range t {
			n += StringBytes + int64(len(k)) + ValueBytes(e)
		}
		return n
	case map[string]string:
		n := MapBytes + int64(len(t))*MapEntryBytes
		for k, e := range t {
			n += 2*StringBytes + int64(len(k)+len(e))
		}
		return n
	case []any:
		n := SliceBytes + int64(len(t))*SliceElemBytes
		for _, e := range t {
			n += ValueBytes(e)
		}
		return n
	case []string:
		n := SliceBytes + int64(len(t))*SliceElemBytes
		for _, e := range t {
			n += int64(len(e))
		}
		return n
	default:
		// bool, nil, numbers: held in the interface itself.
		return 8
	}
}
