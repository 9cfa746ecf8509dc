package jsonvalue

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNumberLen(t *testing.T) {
	for s, want := range map[string]int{
		"0": 1, "-0": 2, "12": 2, "1.5": 3, "-1.5e+10": 8, "1E2": 3, "0.0e0": 5,
		"1x": 1, "01": 1, "1]": 1,
		"": 0, "-": 0, "+1": 0, ".5": 0, "1.": 0, "1e": 0, "1e+": 0, "-x": 0, "x": 0,
	} {
		if got := NumberLen(s); got != want {
			t.Errorf("NumberLen(%q) = %d, want %d", s, got, want)
		}
		if got := NumberLen([]byte(s)); got != want {
			t.Errorf("NumberLen([]byte(%q)) = %d, want %d", s, got, want)
		}
	}
}

// FuzzNumberLen checks NumberLen against encoding/json: a whole string is a
// number for one exactly when it is for the other.
func FuzzNumberLen(f *testing.F) {
	for _, s := range []string{"0", "-1.5e+10", "01", "1.", " 1", "1e5x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		whole := len(s) > 0 && NumberLen(s) == len(s)
		// encoding/json also takes surrounding space, and a number quoted.
		var n json.Number
		valid := s == strings.Trim(s, " \t\r\n") && !strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &n) == nil
		if whole != valid {
			t.Fatalf("%q: NumberLen says %v, encoding/json %v", s, whole, valid)
		}
	})
}
