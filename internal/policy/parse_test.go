package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	rule := func(body string) string { return "rules:\n- name: r\n  namespaces: {names: [ns]}\n" + body }
	tests := []struct {
		name string
		in   string
		want []string // each problem, in order, as a substring
	}{
		{"empty", "", []string{"empty policy: to allow everything, run without -policy-file"}},
		{"only comments", "# nothing\n\n# here\n", []string{"empty policy"}},
		{"null document", "---\n~\n", []string{"empty policy"}},
		{"syntax", "rules: [\n", []string{"yaml:"}},
		{"not a mapping", "[a]", []string{"line 1: must be a mapping"}},
		{"two documents", "rules: []\n---\nrules: []\n", []string{"more than one YAML document"}},
		{"too large", "# " + strings.Repeat("x", MaxPolicyBytes), []string{"more than the 1048576 allowed"}},
		{"too many rules", "rules:\n" + strings.Repeat("- {name: r, namespaces: {names: [a]}}\n", MaxRules+1),
			// the count, and then each repeated name
			append([]string{"rules: has 1001 rules, more than 1000"}, repeat("name is also that of rules[0]", MaxRules)...)},
		{"unknown top-level field", "vaultAddress: [x]\n", []string{`line 1: unknown field "vaultAddress" (known: classMayNotSet, default, rules, vaultAddresses)`}},
		{"repeated field", "rules: []\nrules: []\n", []string{"line 2: rules: is given twice"}},
		{"alias used", "rules:\n- &r {name: a, namespaces: {names: [a]}}\n- *r\n", []string{"line 3: rules[1]: aliases (*r) are not supported"}},

		{"address: not a URL", "vaultAddresses: [vault:8200]", []string{`vaultAddresses[0]: "vault:8200" is not a URL`}},
		{"address: scheme", "vaultAddresses: [ftp://vault]", []string{"is not an http, https or unix URL"}},
		{"address: * in scheme", "vaultAddresses: [\"http*://vault\"]", []string{`has "*" in the scheme`}},
		{"address: * in path", "vaultAddresses: [\"https://vault/*\"]", []string{`has "*" in the path`}},
		{"address: path", "vaultAddresses: [https://vault/v1]", []string{"has a path, query or fragment"}},
		{"address: no host", "vaultAddresses: [\"https://:8200\"]", []string{"has no host"}},
		{"address: userinfo", "vaultAddresses: [https://u@vault]", []string{"has user information"}},
		{"address: port", "vaultAddresses: [\"https://vault:99999\", \"https://vault:8*\"]",
			[]string{"vaultAddresses[0]: \"https://vault:99999\" has an invalid port", "vaultAddresses[1]: \"https://vault:8*\" has an invalid port"}},
		{"address: host character", "vaultAddresses: [\"https://va,ult:8200\"]", []string{"invalid character in the host"}},
		{"address: null list", "vaultAddresses:\n", []string{"line 1: vaultAddresses: is null: write [] to allow nothing"}},

		{"classMayNotSet: case", "classMayNotSet: [vaultskiptlsverify]", []string{"(did you mean vaultSkipTLSVerify?)"}},
		{"classMayNotSet: unknown", "classMayNotSet: [token]", []string{`"token" is not a SecretProviderClass parameter`}},

		{"rule: name and namespaces required", "rules: [{roles: [a]}]", []string{"rules[0]: name is required", "rules[0]: namespaces is required"}},
		{"rule: bad name", "rules: [{name: Payments, namespaces: {names: [a]}}]", []string{`rules[0].name: "Payments" is not a rule name`}},
		{"rule: reserved name", "rules: [{name: default, namespaces: {names: [a]}}]", []string{"is reserved for the default rule"}},
		{"rule: duplicate name", "rules:\n- {name: a, namespaces: {names: [a]}}\n- {name: a, namespaces: {names: [b]}}\n",
			[]string{"line 3: rules[1] (a): name is also that of rules[0]"}},
		{"rule: unknown field", rule("  role: [a]\n"), []string{`line 4: rules[0] (r): unknown field "role"`}},
		{"rule: not a mapping", "rules: [a]", []string{"rules[0]: must be a mapping"}},
		{"namespaces: empty", "rules: [{name: a, namespaces: {}}]", []string{"rules[0] (a).namespaces: give names, labels or both"}},
		{"namespaces: empty names", "rules: [{name: a, namespaces: {names: []}}]", []string{"names: is empty: the rule would match no namespace"}},
		{"namespaces: bad name", "rules: [{name: a, namespaces: {names: [Pay_ments]}}]", []string{`names[0]: "Pay_ments" is not a namespace name`}},
		{"namespaces: bad label", "rules: [{name: a, namespaces: {labels: {\"a b\": x, t: \"a/b\"}}}]",
			[]string{`"a b" is not a Kubernetes label name`, `labels.t: "a/b" is not a Kubernetes label value`}},
		{"namespaces: empty labels", "rules: [{name: a, namespaces: {labels: {}}}]", []string{"labels: is empty"}},
		{"namespaces: unknown field", "rules: [{name: a, namespaces: {name: [a]}}]", []string{`namespaces: unknown field "name"`, "give names, labels or both"}},
		{"roles: null", rule("  roles:\n"), []string{"rules[0] (r).roles: is null"}},
		{"roles: not a list", rule("  roles: a\n"), []string{"rules[0] (r).roles: must be a list"}},
		{"roles: empty entry", rule("  roles: [\"\"]\n"), []string{`roles[0]: "" is not a role name`}},
		{"roles: nested", rule("  roles: [[a]]\n"), []string{"roles[0]: must be a string"}},
		{"serviceAccounts", rule("  serviceAccounts: [App]\n"), []string{`serviceAccounts[0]: "App" is not a service account name`}},
		{"authMounts", rule("  authMounts: [auth/kubernetes, kubernetes/, a/../b]\n"),
			[]string{`authMounts[0]: "auth/kubernetes" must be the mount path without "auth/"`, "authMounts[1]", `authMounts[2]: "a/../b" has a "." or ".." element`}},
		{"vaultNamespaces", rule("  vaultNamespaces: [a//b]\n"), []string{"has an empty element"}},
		{"secretPaths: prefix", rule("  secretPaths: [{prefix: \"secret/*/\"}, {prefix: /secret/}, {prefix: secret/../x/}, {methods: [GET]}, {prefix: \"\"}]\n"),
			[]string{`secretPaths[0].prefix: "secret/*/" has "*"`, `secretPaths[1].prefix: "/secret/" starts with "/"`,
				`secretPaths[2].prefix: "secret/../x/" has a "." or ".." element`, "secretPaths[3]: prefix is required", `secretPaths[4].prefix: "" is empty`}},
		{"secretPaths: methods", rule("  secretPaths: [{prefix: a/, methods: [GET, DELETE, get]}]\n"),
			[]string{`methods[1]: "DELETE" is not GET, PUT or POST`, `methods[2]: "get" is not GET, PUT or POST`}},
		{"secretPaths: unknown field", rule("  secretPaths: [{prefix: a/, method: [GET]}]\n"), []string{`secretPaths[0]: unknown field "method"`}},
		{"default: name", "default: {name: d}", []string{`default: unknown field "name"`}},
		{"default: namespaces", "default: {namespaces: {names: [a]}}", []string{`default: unknown field "namespaces"`}},
		{"default: null", "default:\n", []string{"default: must be a mapping"}},

		// One input, four problems, all reported.
		{"four problems", `
vaultAddresses: ["ftp://vault"]
classMayNotSet: [vaultSkipTlsVerify]
rules:
  - name: a
    namespaces: {names: [a]}
  - name: a
    namespaces: {names: [b]}
    secretPaths: [{prefix: x/, methods: [DELETE]}]
`, []string{
			`line 2: vaultAddresses[0]: "ftp://vault" is not an http, https or unix URL`,
			`line 3: classMayNotSet[0]: "vaultSkipTlsVerify" is not a SecretProviderClass parameter (did you mean vaultSkipTLSVerify?)`,
			`line 9: rules[1] (a).secretPaths[0].methods[0]: "DELETE" is not GET, PUT or POST`,
			`line 7: rules[1] (a): name is also that of rules[0]`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if p != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want nil and an error wrapping ErrInvalid", p, err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if len(pe.Problems) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(pe.Problems), len(tc.want), strings.Join(pe.Problems, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(pe.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, pe.Problems[i], w)
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestParseErrorMessageBounded(t *testing.T) {
	_, err := Parse([]byte("classMayNotSet: [" + strings.Repeat("x, ", 100) + "x]"))
	msg := err.Error()
	if n := strings.Count(msg, "is not a SecretProviderClass parameter"); n != maxListedProblems {
		t.Errorf("message lists %d problems, want %d", n, maxListedProblems)
	}
	if !strings.HasSuffix(msg, "; and 81 more") {
		t.Errorf("message does not count the rest: ...%s", msg[len(msg)-40:])
	}
}

// Valid policies, including what is at the limits, parse; every field
// reaches the Policy (checked through Check, as the fields are private).
func TestParseValid(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		req        Request
		wantDenied bool // true when the field under test shows by refusing req
	}{
		{"explicit empty policy allows everything", "{}", Request{Role: "any", Secrets: []Secret{{Method: "GET", Path: "a/../b"}}}, false},
		{"rules at the limit", "rules:\n" + ruleList(MaxRules) + "default: {roles: []}", Request{Namespace: "n999"}, false},
		{"rules at the limit, default", "rules:\n" + ruleList(MaxRules) + "default: {roles: []}", Request{Namespace: "z"}, true},
		{"IPv6 address", "vaultAddresses: [\"https://[::1]:8200\"]", Request{Addresses: []string{"https://[::1]:8200/"}}, false},
		{"any host, any port, https only", "vaultAddresses: [\"https://*:*\"]", Request{Addresses: []string{"http://vault"}}, true},
		{"vaultNamespaces: root only", "default: {vaultNamespaces: [\"\"]}", Request{VaultNamespace: "team"}, true},
		{"label keys with a prefix", "rules: [{name: a, namespaces: {labels: {kubernetes.io/metadata.name: a}}, roles: []}]",
			Request{NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "a"}}, true},
		{"scalars of other tags", "rules: [{name: \"1\", namespaces: {names: [\"1\"]}, roles: [123]}]", Request{Namespace: "1", Role: "123"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustParse(t, tc.in).Check(tc.req)
			if denied := errors.Is(err, ErrDenied); denied != tc.wantDenied {
				t.Fatalf("Check = %v, want denied %v", err, tc.wantDenied)
			}
		})
	}
}

func ruleList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- {name: r%d, namespaces: {names: [n%d]}}\n", i, i)
	}
	return b.String()
}

func TestExample(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	pol := mustParse(t, string(data))
	payments := Request{
		Namespace:       "payments-staging",
		NamespaceLabels: map[string]string{"team": "payments"},
		ServiceAccount:  "app-api",
		Set:             []string{"roleName", "objects"},
		Addresses:       []string{"https://vault.vault.svc:8200"},
		Role:            "payments-api",
		AuthMount:       "kubernetes",
		Secrets:         []Secret{{Method: "GET", Path: "secret/data/payments/db"}, {Method: "POST", Path: "pki/issue/payments"}},
	}
	if err := pol.Check(payments); err != nil {
		t.Errorf("payments request: %v", err)
	}
	tests := []struct {
		name      string
		change    func(*Request)
		wantRule  string
		wantParam string
	}{
		{"TLS settings", func(r *Request) { r.Set = append(r.Set, "vaultSkipTLSVerify") }, MayNotSetPart, "vaultSkipTLSVerify"},
		{"another team's paths", secrets(Secret{Method: "GET", Path: "secret/data/search/db"}), "payments", "secretPath"},
		{"a namespace named like payments without the label", func(r *Request) { r.NamespaceLabels = nil }, DefaultRule, "roleName"},
		{"search", func(r *Request) { r.Namespace, r.Role = "search", "search" }, "search", "secretPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := payments
			r.Set = append([]string(nil), payments.Set...)
			tc.change(&r)
			var d *Denied
			if err := pol.Check(r); !errors.As(err, &d) || d.Rule != tc.wantRule || d.Parameter != tc.wantParam {
				t.Errorf("Check = %v, want denied by %q on %q", err, tc.wantRule, tc.wantParam)
			}
		})
	}
	if !pol.NeedsLabels() {
		t.Error("the example matches payments by label, but NeedsLabels() = false")
	}
}

// exampleFile is the documented policy for a cluster of two teams, which
// the chart installs with --set-file policy.file=... (deploy-check).
const exampleFile = "../../deployment/examples/policy/two-teams.yaml"
