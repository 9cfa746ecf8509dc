package spc

import (
	"encoding/json"
	"errors"
	"path"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

// fuzzLimits are small, so that the fuzzer reaches every limit.
var fuzzLimits = Limits{AttributesBytes: 4 << 10, Objects: 4, YAMLNodes: 300, SecretArgsBytes: 512, MountBytes: 1 << 10}

// maxMessage bounds a ParamsError's message: the prefix, the listed
// problems and the count of the rest.
const maxMessage = MaxErrorBytes + 100

// checkParsed asserts what every accepted class satisfies, and that a
// rejection is a bounded *ParamsError.
func checkParsed(t *testing.T, p *Params, err error, lim Limits, objects string) {
	t.Helper()
	if err != nil {
		var pe *ParamsError
		if !errors.As(err, &pe) || len(pe.Problems) == 0 {
			t.Fatalf("error %v is not a *ParamsError with problems", err)
		}
		if n := len(err.Error()); n > maxMessage {
			t.Fatalf("error message of %d bytes", n)
		}
		return
	}
	if len(p.Plan.Outputs) == 0 || len(p.Plan.Outputs) > lim.Objects {
		t.Fatalf("accepted %d objects (limit %d)", len(p.Plan.Outputs), lim.Objects)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(objects), &doc); err != nil {
		t.Fatalf("accepted objects that are not YAML: %v", err)
	}
	if n, ok := countNodes(&doc, lim.YAMLNodes); !ok {
		t.Fatalf("accepted objects of more than %d nodes (%d)", lim.YAMLNodes, n)
	}
	for _, o := range p.Plan.Outputs {
		if err := ValidateFilePath(o.Name); err != nil {
			t.Errorf("accepted objectName %q: %v", o.Name, err)
		}
		if o.Path == "" || strings.HasPrefix(o.Path, "/") || strings.Contains("/"+o.Path+"/", "/../") {
			t.Errorf("accepted secretPath %q", o.Path)
		}
		for _, s := range []string{o.Name, o.Path, o.Key, o.Method} {
			if strings.ContainsFunc(s, unicode.IsControl) {
				t.Errorf("accepted a control character in %q", s)
			}
		}
		b, err := json.Marshal(o.Args)
		if err != nil {
			t.Errorf("accepted secretArgs that JSON cannot encode: %v", err)
		}
		if o.Args != nil && len(b) > lim.SecretArgsBytes {
			t.Errorf("accepted secretArgs of %d bytes (limit %d)", len(b), lim.SecretArgsBytes)
		}
		if strings.ContainsRune(string(b), 0) || strings.Contains(string(b), `\u0000`) {
			t.Errorf("accepted a NUL in secretArgs")
		}
		if o.Mode != nil && (*o.Mode <= 0 || *o.Mode > 0o777) {
			t.Errorf("accepted mode %o", *o.Mode)
		}
	}
}

var objectSeeds = []string{
	oneObject,
	"- objectName: a/b\n  secretPath: /v1/secret/data/x?version=2\n  filePermission: 0640\n  secretArgs: {a: [1, {b: c}]}",
	"- {objectName: ../x, secretPath: .., method: put, encoding: HEX, filePermission: '0o777'}",
	"- &a {objectName: a, secretPath: b, secretArgs: {x: *a}}\n- *a",
	"[]", "{}", "- x", ":", "- objectName: ..data\n  secretPath: v1//",
	"- objectName: a\n  secretPath: b\n  secretArgs: {a: [1, {!0 0}]}",
	"- &a {objectName: a, secretPath: b}\n- {<<: [*a, {x: 1}], objectName: c}",
	"- {objectName: a, secretPath: b, secretArgs: {l0: &l0 [x, x, x], l1: &l1 [*l0, *l0, *l0], l2: [*l1, *l1, *l1, *l1]}}",
	"- {objectName: \"a\\0\", secretPath: \"b\\n\", secretArgs: {csr: \"-----BEGIN\\r\\nx\\n\", k: \"\\x1b\"}}",
	"- {objectName: a, secretPath: b, secretArgs: {v: &v xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, l: [*v, *v, *v, *v, *v, *v, *v, *v, *v, *v, *v]}}",
	"- {objectName: a, secretPath: b}\n- {objectName: c, secretPath: b}\n- {objectName: d, secretPath: b}\n- {objectName: e, secretPath: b}\n- {objectName: f, secretPath: b}",
}

// FuzzParseObjects parses a fuzzed objects document, with the default
// limits and with small ones.
func FuzzParseObjects(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, objects string) {
		for _, lim := range []Limits{fuzzLimits, DefaultLimits()} {
			attrs := validAttrs()
			attrs["objects"] = objects
			d := testDefaults()
			d.Limits = lim
			p, err := ParseParams(nil, attrs, d)
			checkParsed(t, p, err, lim, objects)
		}
	})
}

// FuzzParseParams builds the attributes from fuzzed values: a few
// parameters, a key of the fuzzer's choice and the objects.
func FuzzParseParams(f *testing.F) {
	f.Add("app", "https://vault:8200", "kubernetes", "csi.storage.k8s.io/pod.namespace", "shop", oneObject)
	f.Add("a\x00b", "http://vault:port", "auth/", "vaultSkipTLSVerify", "maybe", "- {objectName: a, secretPath: b}")
	f.Add("", "unix://", "a/../b", "leaseReuse", "no", "")
	f.Add(strings.Repeat("r", 200), "ftp://x", "jwt?x", "vaultNamespace", "ns\n", "- {objectName: a, secretPath: b, secretKey: \"\\t\"}")
	f.Add("app", "https://[::1", "jwt", "csi.storage.k8s.io/pod.labels", strings.Repeat("l", 5000), oneObject)
	f.Fuzz(func(t *testing.T, role, addr, authMount, key, value, objects string) {
		attrs := validAttrs()
		attrs[KeyRoleName] = role
		attrs[KeyVaultAddress] = addr
		attrs[KeyAuthMount] = authMount
		attrs[key] = value
		attrs[KeyObjects] = objects
		d := testDefaults()
		d.Limits = fuzzLimits
		p, err := ParseParams(nil, attrs, d)
		if err == nil && attrsSize(attrs) > fuzzLimits.AttributesBytes {
			t.Fatalf("accepted %d bytes of attributes", attrsSize(attrs))
		}
		checkParsed(t, p, err, fuzzLimits, attrs[KeyObjects])
		if err != nil {
			// A long value is never quoted whole.
			for _, v := range []string{role, addr, authMount, value} {
				if len(v) > maxProblemBytes && strings.Contains(err.Error(), v) {
					t.Fatalf("error quotes a %d-byte value whole", len(v))
				}
			}
			return
		}
		for _, s := range []string{p.RoleName, p.AuthMount, p.Audience, p.Vault.Address, p.Vault.Namespace,
			p.Pod.Name, p.Pod.Namespace, p.Pod.UID, p.Pod.ServiceAccount} {
			if strings.ContainsFunc(s, unicode.IsControl) {
				t.Errorf("accepted a control character in %q", s)
			}
		}
	})
}

// FuzzValidateFilePath checks that an accepted path is one the driver
// writes inside the volume.
func FuzzValidateFilePath(f *testing.F) {
	for _, s := range []string{"password", "a/b/c", "../x", "a/../b", "/etc/passwd", "a//b", "./a", "..data", "a\x00b",
		"a\\b", "a/", ".", "x..y", "a\nb", "é/ü", strings.Repeat("a/", 2049), strings.Repeat("a", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateFilePath(p)
		if err != nil {
			// Two values quoted short, each at most 4 bytes of escapes per byte.
			if len(err.Error()) > 1<<10 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || len(p) > MaxPathBytes {
			t.Fatalf("accepted %q: empty, absolute, unclean or long", p)
		}
		if strings.ContainsFunc(p, unicode.IsControl) || strings.Contains(p, `\`) {
			t.Fatalf("accepted %q: control character or backslash", p)
		}
		for _, el := range strings.Split(p, "/") {
			if el == "" || el == "." || strings.HasPrefix(el, "..") || len(el) > maxElementBytes {
				t.Fatalf("accepted %q: element %q", p, el)
			}
		}
	})
}
