package policy

import (
	"strings"
	"unicode"
)

// allow is one field's list of patterns; any is set when the field was left
// out, so that an empty list, which allows nothing, stays distinct.
type allow struct {
	any      bool
	patterns []string
}

var allowAny = allow{any: true}

func (a allow) permits(s string) bool {
	if a.any {
		return true
	}
	for _, p := range a.patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob reports whether s matches pattern, where "*" matches any run of bytes
// ("/" included). One backtrack point keeps it O(len(pattern)*len(s)), so a
// hostile value cannot make it blow up.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			if c := pattern[px]; c == '*' {
				starPx, starSx = px, sx+1
				px++
				continue
			} else if sx < len(s) && s[sx] == c {
				px++
				sx++
				continue
			}
		}
		if starPx >= 0 && starSx <= len(s) {
			px, sx = starPx+1, starSx
			starSx++
			continue
		}
		return false
	}
	return true
}

// hasControl reports a control or invalid character, which no value the
// policy compares may hold.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// onlyChars reports whether every byte of s is in set.
func onlyChars(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// pathProblem says why a slash-separated Vault path (a secret path, an auth
// mount, a Vault namespace), without slashes at its ends, cannot be compared
// by prefix or pattern, or "" if it can. "." and ".." elements and empty
// elements would be resolved by a server after the comparison
// ("secret/data/payments/../other"), and "%" could be decoded into them;
// such paths are refused, not cleaned.
func pathProblem(p string) string {
	switch {
	case hasControl(p):
		return "has a control character"
	case strings.ContainsAny(p, `%?#\`):
		return `has one of % ? # \`
	case p == "":
		return ""
	}
	for e := range strings.SplitSeq(p, "/") {
		switch e {
		case ".", "..":
			return `has a "." or ".." element`
		case "":
			return "has an empty element (//)"
		}
	}
	return ""
}
