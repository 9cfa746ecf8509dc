package tmpl

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Regexp bounds. Go's regexp is linear in the input, but its cost is the
// compiled program's size times the input's length, and a short pattern like
// (a{1000}){1000} compiles to a huge program.
const (
	maxPattern  = 4 << 10    // bytes of pattern
	maxProgram  = 20_000     // estimated instructions
	maxRegexOps = 50_000_000 // instructions times input bytes, about 0.1-0.5 s
)

// compileRegex compiles pattern after checking that matching it against
// inputLen bytes stays within the bounds above. Errors quote nothing: the
// pattern may have been computed from data.
func compileRegex(pattern string, inputLen int) (*regexp.Regexp, error) {
	if len(pattern) > maxPattern {
		return nil, funcErr(ErrTooLarge, "regexp longer than %d bytes", maxPattern)
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, funcErr(ErrExec, "invalid regexp: %s", se.Code)
		}
		return nil, funcErr(ErrExec, "invalid regexp")
	}
	size := programSize(re)
	if size > maxProgram {
		return nil, funcErr(ErrTooLarge, "regexp too large (over %d instructions)", maxProgram)
	}
	if size*(inputLen+1) > maxRegexOps {
		return nil, funcErr(ErrTooLarge, "regexp too costly for a %d-byte input", inputLen)
	}
	r, err := regexp.Compile(pattern)
	if err != nil {
		return nil, funcErr(ErrExec, "invalid regexp")
	}
	return r, nil
}

// programSize estimates the compiled size of re, expanding counted repeats;
// it saturates just past maxProgram.
func programSize(re *syntax.Regexp) int {
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpRepeat:
		times := re.Max
		if times < 0 {
			times = re.Min + 1
		}
		n = 1 + max(times, 1)*programSize(re.Sub[0])
	default:
		for _, s := range re.Sub {
			n += programSize(s)
		}
	}
	return min(n, maxProgram+1)
}

func regexMatch(_ int, pattern, s string) (bool, error) {
	r, err := compileRegex(pattern, len(s))
	if err != nil {
		return false, err
	}
	return r.MatchString(s), nil
}

func regexFind(_ int, pattern, s string) (string, error) {
	r, err := compileRegex(pattern, len(s))
	if err != nil {
		return "", err
	}
	return r.FindString(s), nil
}

// maxMatches caps n so that a result one element past what StringBytes
// allows still fails guard's size check instead of being silently cut.
func maxMatches(lim, n int) int {
	if n < 0 || n > lim/8+1 {
		return lim/8 + 1
	}
	return n
}

func regexFindAll(lim int, pattern, s string, n int) ([]string, error) {
	r, err := compileRegex(pattern, len(s))
	if err != nil {
		return nil, err
	}
	return r.FindAllString(s, maxMatches(lim, n)), nil
}

func regexSplit(lim int, pattern, s string, n int) ([]string, error) {
	r, err := compileRegex(pattern, len(s))
	if err != nil {
		return nil, err
	}
	return r.Split(s, maxMatches(lim, n)), nil
}

// regexReplace bounds the result before building it: a pattern matching
// everywhere ("") inserts repl at every byte, and each $n in repl can copy
// the whole input.
func regexReplace(lim int, pattern, s, repl string, expand bool) (string, error) {
	r, err := compileRegex(pattern, len(s))
	if err != nil {
		return "", err
	}
	tooLarge := funcErr(ErrTooLarge, "regexp replacement would be over the %d-byte limit", lim)
	if !expand {
		grown, over := len(s), false
		out := r.ReplaceAllStringFunc(s, func(string) string {
			grown += len(repl)
			if over = over || grown > lim; over {
				return ""
			}
			return repl
		})
		if over {
			return "", tooLarge
		}
		return out, nil
	}
	matches := 0
	r.ReplaceAllStringFunc(s, func(string) string { matches++; return "" })
	refs := strings.Count(repl, "$")
	if fits(lim, len(s)+refs*len(s), matches, len(repl)) != nil {
		return "", tooLarge
	}
	return r.ReplaceAllString(s, repl), nil
}
