package policy

import (
	"slices"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// The checks of the entries of each list: each returns the entry to keep
// and a problem, or "". Names Kubernetes restricts are held to its
// characters, so that a typo ("Payments") is caught rather than never
// matching.

const (
	lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

func checkNamespace(s string) (string, string) {
	if s == "" || len(s) > 63 || !onlyChars(s, lowerDigits+"-*") {
		return "", "is not a namespace name or pattern (a-z, 0-9, - and *, up to 63)"
	}
	return s, ""
}

func checkServiceAccount(s string) (string, string) {
	if s == "" || len(s) > 253 || !onlyChars(s, lowerDigits+"-.*") {
		return "", "is not a service account name or pattern (a-z, 0-9, -, . and *)"
	}
	return s, ""
}

func checkRole(s string) (string, string) {
	if s == "" || hasControl(s) {
		return "", "is not a role name or pattern"
	}
	return s, ""
}

// checkAuthMount wants the mount as the provider cleans a class's value, so
// that what the admin writes is what is compared.
func checkAuthMount(s string) (string, string) {
	switch {
	case s == "":
		return "", "is empty"
	case strings.HasPrefix(s, "auth/"), strings.HasPrefix(s, "/"), strings.HasSuffix(s, "/"):
		return "", `must be the mount path without "auth/" and without slashes at its ends (e.g. kubernetes)`
	}
	return s, pathProblem(s)
}

// checkVaultNamespace keeps a namespace without slashes at its ends, as
// Vault reads "team/" and "team" alike; "" is the root namespace.
func checkVaultNamespace(s string) (string, string) {
	s = strings.Trim(s, "/")
	return s, pathProblem(s)
}

func checkParameter(s string) (string, string) {
	if slices.Contains(spc.ClassParameters, s) {
		return s, ""
	}
	for _, k := range spc.ClassParameters {
		if strings.EqualFold(k, s) {
			return "", "is not a SecretProviderClass parameter (did you mean " + k + "?)"
		}
	}
	return "", "is not a SecretProviderClass parameter (known: " + strings.Join(spc.ClassParameters, ", ") + ")"
}

// prefixProblem checks a secretPaths prefix: a plain path, not a pattern,
// compared with the request's path on element boundaries.
func prefixProblem(s string) string {
	switch {
	case s == "" || s == "/":
		return "is empty: leave secretPaths out to allow any path"
	case strings.Contains(s, "*"):
		return `has "*": a prefix is not a pattern`
	case strings.HasPrefix(s, "/"):
		return `starts with "/": write the path as in a class's secretPath, without it`
	}
	return pathProblem(strings.TrimSuffix(s, "/"))
}

func ruleNameProblem(s string) string {
	switch {
	case s == DefaultRule:
		return "is reserved for the default rule"
	case s == "" || len(s) > maxRuleName || !onlyChars(s, lowerDigits+"-"):
		return "is not a rule name (a-z, 0-9 and -, up to 63)"
	}
	return ""
}

// validLabelKey accepts a Kubernetes label key: an optional DNS prefix and
// "/", then a name of up to 63 characters.
func validLabelKey(k string) bool {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	} else if prefix == "" || len(prefix) > 253 || !onlyChars(prefix, lowerDigits+"-.") {
		return false
	}
	return name != "" && validLabelValue(name)
}

func validLabelValue(v string) bool {
	return len(v) <= 63 && onlyChars(v, lowerDigits+upperChars+"-_.")
}
