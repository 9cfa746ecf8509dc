package spc

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits of the driver's atomic writer (the kubelet's, reused by the
// Secrets Store CSI driver).
const (
	MaxPathBytes    = 4096
	maxElementBytes = 255
)

// ValidateFilePath checks a file path the driver will write (used for
// objectName, exported for reuse). The driver refuses the whole mount for
// one bad path, so catching it here gives a clearer error.
func ValidateFilePath(p string) error {
	switch {
	case p == "":
		return errors.New("file path is empty: give the file a name, e.g. password")
	case len(p) > MaxPathBytes:
		return fmt.Errorf("file path is %d bytes long: shorten it to at most %d bytes", len(p), MaxPathBytes)
	case controlChar(p, nil) != "":
		return fmt.Errorf("file path %s contains %s: remove it", Quote(p), controlChar(p, nil))
	case strings.Contains(p, `\`):
		return fmt.Errorf("file path %s contains a backslash: separate directories with \"/\"", Quote(p))
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("file path %s is absolute: remove the leading \"/\" (paths are relative to the volume)", Quote(p))
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("file path %s ends with \"/\": remove it, the path must name a file", Quote(p))
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Errorf("file path %s has an empty element: use a single \"/\" between directories (%s)", Quote(p), Quote(path.Clean(p)))
		case el == ".":
			return fmt.Errorf("file path %s has a \".\" element: remove it", Quote(p))
		case el == "..":
			return fmt.Errorf("file path %s has a \"..\" element, which would leave the volume: remove it", Quote(p))
		case strings.HasPrefix(el, ".."):
			return fmt.Errorf("file path %s has an element starting with \"..\" (%s), a prefix the driver reserves for its own files: rename it", Quote(p), Quote(el))
		case len(el) > maxElementBytes:
			return fmt.Errorf("file path %s has an element of %d bytes: shorten each name to at most %d bytes", Quote(p), len(el), maxElementBytes)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("file path %s is not clean: use %s", Quote(p), Quote(path.Clean(p)))
	}
	return nil
}

// parseSecretPath splits secretPath into the Vault API path and its query.
// Like hashicorp/vault-csi-provider it accepts the path with or without a
// leading "/", "/v1/" or "v1/". It rejects "." and ".." elements, which an
// HTTP stack may clean into a different path than the one written, and
// empty elements. A trailing "/" is kept: Vault list endpoints use it.
func parseSecretPath(raw string) (string, url.Values, error) {
	p, rawQuery, hasQuery := strings.Cut(raw, "?")
	var query url.Values
	if hasQuery {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return "", nil, fmt.Errorf("secretPath %s has an invalid query (%v): write it as key=value pairs joined by \"&\", with %%XX escapes, e.g. ?version=2", Quote(raw), err)
		}
		if len(q) > 0 {
			query = q
		}
	}
	switch {
	case strings.HasPrefix(p, "/v1/"):
		p = p[len("/v1/"):]
	case strings.HasPrefix(p, "v1/"):
		p = p[len("v1/"):]
	case strings.HasPrefix(p, "/"):
		p = p[1:]
	}
	trimmed := strings.TrimSuffix(p, "/")
	if trimmed == "" {
		return "", nil, fmt.Errorf("secretPath %s names no Vault path: give the API path after /v1/, e.g. secret/data/app", Quote(raw))
	}
	for _, el := range strings.Split(trimmed, "/") {
		switch el {
		case "":
			return "", nil, fmt.Errorf("secretPath %s has an empty element: use a single \"/\" between elements, e.g. secret/data/app", Quote(raw))
		case ".", "..":
			return "", nil, fmt.Errorf("secretPath %s has a %q element: remove it and write the full path, e.g. secret/data/app", Quote(raw), el)
		}
	}
	return p, query, nil
}

// parseMode reads filePermission: a YAML integer (yaml.v3 reads 0640 and
// 0o640 as octal, so the value is the mode number) or a string of octal
// digits ("0640", "640", "0o640"). 0 means unset, as in
// hashicorp/vault-csi-provider: the driver's default mode applies.
func parseMode(v *yaml.Node, label string, probs *problems) *int32 {
	const hint = "write the mode in octal with a leading 0, e.g. 0640"
	if v.Kind != yaml.ScalarNode {
		probs.add("%s: filePermission must be a file mode, not a %s: %s", label, kindName(v), hint)
		return nil
	}
	var n uint64
	switch v.ShortTag() {
	case "!!null":
		return nil
	case "!!int":
		var i int64
		if err := v.Decode(&i); err != nil || i < 0 {
			probs.add("%s: filePermission %s is not a file mode: %s", label, plain(v.Value), hint)
			return nil
		}
		n = uint64(i)
	case "!!str":
		s := strings.TrimSpace(v.Value)
		if s == "" {
			return nil
		}
		digits := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
		u, err := strconv.ParseUint(digits, 8, 32)
		if err != nil {
			probs.add("%s: filePermission %s is not an octal number (digits 0-7): %s", label, Quote(v.Value), hint)
			return nil
		}
		n = u
	default:
		probs.add("%s: filePermission %s is not an octal number (digits 0-7): %s", label, plain(v.Value), hint)
		return nil
	}
	if n > 0o777 {
		probs.add("%s: filePermission %s is %#o in octal, above 0777: %s", label, plain(v.Value), n, hint)
		return nil
	}
	if n == 0 {
		return nil
	}
	mode := int32(n)
	return &mode
}
