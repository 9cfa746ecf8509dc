package spc

import "testing"

func TestLengthPrefixedIsUnambiguous(t *testing.T) {
	pairs := [][2][]string{
		{{"a", "bc"}, {"ab", "c"}},
		{{"a\x00b", "c"}, {"a", "b\x00c"}},
		{{"", "a"}, {"a", ""}},
		{{"a"}, {"a", ""}},
	}
	for _, p := range pairs {
		if string(LengthPrefixed(p[0]...)) == string(LengthPrefixed(p[1]...)) {
			t.Errorf("%q and %q encode the same", p[0], p[1])
		}
	}
}
