package policy

import (
	pathpkg "path"
	"strconv"
	"strings"
)

// address is a Vault address reduced to what is compared: scheme and host in
// lower case, and the port, the scheme's default filled in. In a pattern the
// host may hold "*" and the port may be "*"; the path is never compared. A
// unix:// address (a Vault Agent's socket) is its cleaned socket path, in
// host, compared exactly: a pattern may not hold "*" there, since a class
// must not reach any other socket of the node.
type address struct {
	scheme, host, port string
}

// Characters of a host name, of a bracketed IPv6 literal, and of a host
// pattern. Anything else (userinfo, "\", "%", ",") is refused rather than
// interpreted, so a host pattern's "*" cannot swallow a second URL.
const (
	hostChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_"
	ipv6Chars = "0123456789abcdef:."
)

// parseAddress parses an http(s) URL into an address; problem says why it
// cannot, or "". With isPattern the host may hold "*", the port may be "*",
// and a path (other than "/") is refused because it would not be compared.
func parseAddress(s string, isPattern bool) (a address, problem string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return a, "is not a URL (scheme://host[:port])"
	}
	a.scheme = strings.ToLower(scheme)
	if scheme == "unix" {
		return unixAddress(rest)
	}
	switch {
	case strings.Contains(scheme, "*"):
		return a, `has "*" in the scheme`
	case a.scheme != "http" && a.scheme != "https":
		return a, "is not an http, https or unix URL"
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, path := rest[:end], rest[end:]
	if isPattern {
		switch {
		case strings.Contains(path, "*"):
			return a, `has "*" in the path`
		case path != "" && path != "/":
			return a, "has a path, query or fragment: only scheme, host and port are compared"
		}
	}
	if strings.Contains(authority, "@") {
		return a, "has user information (user@)"
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return a, "has an unclosed [ in the host"
		}
		host, port = authority[:i+1], authority[i+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return a, "has characters after the IPv6 host"
		}
		port = strings.TrimPrefix(port, ":")
	} else if h, p, ok := strings.Cut(authority, ":"); ok {
		host, port = h, p
	}
	a.host = strings.ToLower(host)
	if problem := hostProblem(a.host, isPattern); problem != "" {
		return a, problem
	}
	switch {
	case port == "" && a.scheme == "http":
		a.port = "80"
	case port == "":
		a.port = "443"
	case port == "*" && isPattern:
		a.port = "*"
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || !onlyChars(port, "0123456789") {
			return a, `has an invalid port (1 to 65535, or "*" in vaultAddresses)`
		}
		a.port = strconv.Itoa(n)
	}
	return a, ""
}

func hostProblem(host string, isPattern bool) string {
	chars := hostChars
	if isPattern {
		chars += "*"
	}
	switch {
	case host == "":
		return "has no host"
	case strings.HasPrefix(host, "["):
		if !onlyChars(host[1:len(host)-1], ipv6Chars) || len(host) == 2 {
			return "has an invalid IPv6 host"
		}
	case !onlyChars(host, chars):
		return "has an invalid character in the host"
	}
	return ""
}

// matches reports whether the concrete address c is one pattern a allows.
func (a address) matches(c address) bool {
	return a.scheme == c.scheme && (a.port == "*" || a.port == c.port) && glob(a.host, c.host)
}

// unixAddress parses what follows unix://: an absolute, clean path.
func unixAddress(path string) (a address, problem string) {
	switch {
	case path == "" || path[0] != '/':
		return a, "is not an absolute socket path (unix:///path/to/agent.sock)"
	case pathpkg.Clean(path) != path:
		return a, `is not a clean socket path (no "//", ".", ".." or trailing "/")`
	case strings.ContainsAny(path, "*?#%\\") || strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return a, "has a character not allowed in a socket path"
	}
	return address{scheme: "unix", host: path}, ""
}
