package tmpl

import (
	"fmt"
	"reflect"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// removed are sprig functions (beyond those HermeticTxtFuncMap already drops:
// date, now, env, expandenv, getHostByName, rand*, uuidv4, ...) that a tenant
// must not have. Read from sprig v3.3.0's functions.go, date.go, crypto.go.
var removed = []string{
	// Randomness: random keys, salts and IVs, math/rand.
	"genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert",
	"genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
	"bcrypt", "htpasswd", "encryptAES", "randInt", "shuffle", "randBytes",
	"randAlpha", "randAlphaNum", "randAscii", "randNumeric", "uuidv4",
	// Crypto with no place here: decryptAES pairs with encryptAES;
	// derivePassword runs scrypt (tens of MiB and CPU per call);
	// buildCustomCert only feeds the gen* functions.
	"decryptAES", "derivePassword", "buildCustomCert",
	// The clock and the local time zone: ago and durationRound call
	// time.Since; toDate parses in time.Local; the rest are the date family
	// (only useful with now, and some read time.Local).
	"ago", "durationRound", "toDate", "mustToDate", "unixEpoch",
	"date", "dateInZone", "date_in_zone", "dateModify", "date_modify",
	"mustDateModify", "must_date_modify", "htmlDate", "htmlDateInZone", "now",
	// The environment and the network.
	"env", "expandenv", "getHostByName",
}

// funcMap is sprig's hermetic set less removed, with the functions below
// replaced or added, every one wrapped by guard for st. src is the template
// source: index quotes a missing key only if the source contains it.
func funcMap(st *execState, src string) template.FuncMap {
	raw := sprig.HermeticTxtFuncMap()
	for _, name := range removed {
		delete(raw, name)
	}
	lim := st.lim.StringBytes
	for name, fn := range replacements(lim, src) {
		raw[name] = fn
	}
	m := make(template.FuncMap, len(raw))
	for name, fn := range raw {
		m[name] = guard(st, name, fn, prechecks[name])
	}
	return m
}

// replacements are this package's own functions: bounded rewrites of sprig
// functions that allocate in proportion to an argument, strict versions of
// ones that print their error into the output, the additions certificates
// and configs need, and the text/template builtins whose results can be
// large (overridden so that guard bounds them too).
func replacements(lim int, src string) map[string]any {
	return map[string]any{
		// Bounded generators (sprig's loop on overflow and allocate first).
		"until":     func(n int) ([]int, error) { return until(lim, n) },
		"untilStep": func(start, stop, step int) ([]int, error) { return untilStep(lim, start, stop, step) },
		"seq":       func(p ...int) (string, error) { return seq(lim, p...) },

		// Strict decoders: sprig's return the error text (which quotes the
		// input) as the result.
		"b64dec":       b64dec,
		"b32dec":       b32dec,
		"fromJson":     fromJSON,
		"mustFromJson": fromJSON,
		"fromYaml":     fromYAML,
		"mustFromYaml": fromYAML,
		"toYaml":       toYAML,
		"mustToYaml":   toYAML,
		"pemJoin":      pemJoin,

		// Regexps: size-checked patterns, bounded match counts and
		// replacement growth; errors instead of panics or silent false.
		"regexMatch":                 func(re, s string) (bool, error) { return regexMatch(lim, re, s) },
		"mustRegexMatch":             func(re, s string) (bool, error) { return regexMatch(lim, re, s) },
		"regexFind":                  func(re, s string) (string, error) { return regexFind(lim, re, s) },
		"mustRegexFind":              func(re, s string) (string, error) { return regexFind(lim, re, s) },
		"regexFindAll":               func(re, s string, n int) ([]string, error) { return regexFindAll(lim, re, s, n) },
		"mustRegexFindAll":           func(re, s string, n int) ([]string, error) { return regexFindAll(lim, re, s, n) },
		"regexSplit":                 func(re, s string, n int) ([]string, error) { return regexSplit(lim, re, s, n) },
		"mustRegexSplit":             func(re, s string, n int) ([]string, error) { return regexSplit(lim, re, s, n) },
		"regexReplaceAll":            func(re, s, repl string) (string, error) { return regexReplace(lim, re, s, repl, true) },
		"mustRegexReplaceAll":        func(re, s, repl string) (string, error) { return regexReplace(lim, re, s, repl, true) },
		"regexReplaceAllLiteral":     func(re, s, repl string) (string, error) { return regexReplace(lim, re, s, repl, false) },
		"mustRegexReplaceAllLiteral": func(re, s, repl string) (string, error) { return regexReplace(lim, re, s, repl, false) },

		// Builtins: index fails on a missing key (the builtin returns the
		// zero value, which prints as "<no value>" into a secret file);
		// call has nothing to call in JSON data; the rest are bounded by guard.
		"index":    func(item any, keys ...any) (any, error) { return index(src, item, keys...) },
		"call":     func(any, ...any) (any, error) { return nil, funcErr(ErrExec, "call: not available") },
		"print":    fmt.Sprint,
		"println":  fmt.Sprintln,
		"printf":   fmt.Sprintf,
		"html":     template.HTMLEscaper,
		"js":       template.JSEscaper,
		"urlquery": template.URLQueryEscaper,
	}
}

// prechecks bound functions whose result can be far larger than their
// arguments, before they allocate it. guard has already checked that the
// arguments together cost at most lim.
var prechecks = map[string]precheck{
	"repeat": func(lim int, a []reflect.Value) error {
		n, s := int(a[0].Int()), a[1].Len()
		if n < 0 {
			return fmt.Errorf("negative count")
		}
		return fits(lim, 0, n, s)
	},
	"indent":   indentCheck,
	"nindent":  indentCheck,
	"wrapWith": wrapWithCheck,
	"replace": func(lim int, a []reflect.Value) error {
		old, repl, src := a[0].String(), a[1].String(), a[2].String()
		return fits(lim, len(src), strings.Count(src, old), len(repl))
	},
	"join": func(lim int, a []reflect.Value) error {
		return fits(lim, 0, listLen(a[1]), a[0].Len())
	},
	"splitList": splitCheck(0, 1),
	"split":     splitCheck(0, 1),
	"splitn":    splitCheck(0, 2),
	"chunk":     chunkCheck,
	"mustChunk": chunkCheck,
	// O(n²) with reflect.DeepEqual.
	"uniq":        listProductCheck,
	"mustUniq":    listProductCheck,
	"without":     listProductCheck,
	"mustWithout": listProductCheck,
	// Indentation grows with nesting: 2 or 4 spaces per level per line.
	"toPrettyJson":     indentedCheck(2),
	"mustToPrettyJson": indentedCheck(2),
	"toYaml":           indentedCheck(4),
	"mustToYaml":       indentedCheck(4),
	"printf":           printfCheck,
}

// fits checks base + n*each <= lim without overflowing.
func fits(lim, base, n, each int) error {
	if n < 0 || each < 0 {
		return fmt.Errorf("negative size")
	}
	if each > 0 && n > (lim-base)/each || base > lim {
		return fmt.Errorf("result would be over the %d-byte limit", lim)
	}
	return nil
}

func indentCheck(lim int, a []reflect.Value) error {
	spaces, s := int(a[0].Int()), a[1].String()
	if spaces < 0 {
		return fmt.Errorf("negative indent")
	}
	return fits(lim, len(s)+1, strings.Count(s, "\n")+1, spaces)
}

func wrapWithCheck(lim int, a []reflect.Value) error {
	sep, s := a[1].String(), a[2].String()
	// At most one break per byte, plus one.
	return fits(lim, len(s), len(s)+1, len(sep))
}

// splitCheck: each part costs a slice slot or map entry besides its bytes.
func splitCheck(sepArg, srcArg int) precheck {
	return func(lim int, a []reflect.Value) error {
		sep, s := a[sepArg].String(), a[srcArg].String()
		return fits(lim, len(s), strings.Count(s, sep)+1, 16)
	}
}

func chunkCheck(_ int, a []reflect.Value) error {
	if a[0].Int() < 1 {
		return fmt.Errorf("chunk size must be at least 1")
	}
	return nil
}

// maxPairs bounds the DeepEqual comparisons of uniq and without.
const maxPairs = 4 << 20

func listProductCheck(_ int, a []reflect.Value) error {
	n := listLen(a[0])
	m := n // uniq compares against its own output
	if len(a) > 1 {
		m = a[1].Len()
	}
	if m > 0 && n > maxPairs/m {
		return fmt.Errorf("list too long for this function (%d comparisons at most)", maxPairs)
	}
	return nil
}

// listLen is the length of a slice or array argument passed as any, else 0.
func listLen(v reflect.Value) int {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		return v.Len()
	}
	return 0
}

func indentedCheck(perLevel int) precheck {
	return func(lim int, a []reflect.Value) error {
		c := costWalker{left: lim, perLevel: perLevel}
		if !c.walk(a[0], 0) {
			return fmt.Errorf("indented result would be over the %d-byte limit", lim)
		}
		return nil
	}
}
