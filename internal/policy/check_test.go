package policy

import (
	"errors"
	"strings"
	"testing"
)

const testPolicy = `
vaultAddresses:
  - https://vault.vault.svc:8200
  - https://*.vault.svc:8200
  - http://vault.example.com:*
classMayNotSet: [vaultSkipTLSVerify, vaultAddress]
rules:
  - name: payments
    namespaces: {names: ["payments", "payments-*"]}
    roles: ["payments-*"]
    authMounts: ["kubernetes", "team-*"]
    vaultNamespaces: ["", "payments/"]
    serviceAccounts: ["app-*"]
    secretPaths:
      - prefix: secret/data/payments/
        methods: [GET]
      - prefix: pki/issue/payments
        methods: [POST, PUT]
      - prefix: secret/data/shared/
  - name: labelled
    namespaces: {labels: {team: search, tier: prod}}
    roles: []
  - name: search
    namespaces: {names: ["search-*"], labels: {team: search}}
    roles: ["search"]
  - name: shadowed
    namespaces: {names: ["payments-x"]}
default:
  roles: ["guest"]
  secretPaths: []
`

func mustParse(t testing.TB, data string) *Policy {
	t.Helper()
	p, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// paymentsRequest is allowed by the payments rule of testPolicy; each case
// changes one thing.
func paymentsRequest() Request {
	return Request{
		Namespace:      "payments",
		ServiceAccount: "app-1",
		Set:            []string{"roleName", "objects"},
		Addresses:      []string{"https://vault.vault.svc:8200"},
		Role:           "payments-api",
		AuthMount:      "kubernetes",
		VaultNamespace: "",
		Secrets:        []Secret{{Method: "GET", Path: "secret/data/payments/db"}},
	}
}

func secrets(s ...Secret) func(*Request) {
	return func(r *Request) { r.Secrets = s }
}

func TestCheck(t *testing.T) {
	pol := mustParse(t, testPolicy)
	tests := []struct {
		name      string
		change    func(*Request)
		wantRule  string // "" when allowed
		wantParam string
	}{
		{name: "allowed", change: func(*Request) {}},

		// Node-wide parts, checked before the rule.
		{name: "classMayNotSet", change: func(r *Request) { r.Set = append(r.Set, "vaultSkipTLSVerify") },
			wantRule: MayNotSetPart, wantParam: "vaultSkipTLSVerify"},
		{name: "volumeAttributes override the address", change: func(r *Request) {
			r.Set = append(r.Set, "vaultAddress")
			r.Addresses = []string{"https://pod.example.com:8200"}
		}, wantRule: MayNotSetPart, wantParam: "vaultAddress"},
		{name: "classMayNotSet before vaultAddresses", change: func(r *Request) {
			r.Set = append(r.Set, "vaultSkipTLSVerify")
			r.Addresses = []string{"https://evil:8200"}
		}, wantRule: MayNotSetPart, wantParam: "vaultSkipTLSVerify"},
		{name: "other keys may be set", change: func(r *Request) { r.Set = append(r.Set, "vaultCACertPath", "csi.storage.k8s.io/pod.name") }},
		{name: "address outside", change: func(r *Request) { r.Addresses = []string{"https://evil.example.com:8200"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: one element of several outside", change: func(r *Request) {
			r.Addresses = []string{"https://vault.vault.svc:8200", "https://evil:8200"}
		}, wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: several inside", change: func(r *Request) {
			r.Addresses = []string{"https://vault.vault.svc:8200", "https://vault-1.vault.svc:8200"}
		}},
		{name: "address: no address", change: func(r *Request) { r.Addresses = nil },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: case and trailing slash", change: func(r *Request) { r.Addresses = []string{"HTTPS://Vault.VAULT.svc:8200/"} }},
		{name: "address: path ignored", change: func(r *Request) { r.Addresses = []string{"https://vault.vault.svc:8200/v1"} }},
		{name: "address: other port", change: func(r *Request) { r.Addresses = []string{"https://vault.vault.svc"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: other scheme", change: func(r *Request) { r.Addresses = []string{"http://vault.vault.svc:8200"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: host pattern", change: func(r *Request) { r.Addresses = []string{"https://a.b.vault.svc:8200"} }},
		{name: "address: host pattern needs the suffix", change: func(r *Request) { r.Addresses = []string{"https://vault.svc:8200"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: port pattern, default port", change: func(r *Request) { r.Addresses = []string{"http://vault.example.com"} }},
		{name: "address: port pattern", change: func(r *Request) { r.Addresses = []string{"http://vault.example.com:8200"} }},
		{name: "address: userinfo hiding the host", change: func(r *Request) { r.Addresses = []string{"https://x.vault.svc:8200@evil.com"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: backslash hiding the host", change: func(r *Request) { r.Addresses = []string{`https://evil.com\.vault.svc:8200`} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: fragment hiding the host", change: func(r *Request) { r.Addresses = []string{"https://evil.com#.vault.svc:8200"} },
			wantRule: AddressesPart, wantParam: "vaultAddress"},
		{name: "address: comma-joined value", change: func(r *Request) {
			r.Addresses = []string{"https://vault.vault.svc:8200,https://evil:8200"}
		}, wantRule: AddressesPart, wantParam: "vaultAddress"},

		// The payments rule.
		{name: "serviceAccount", change: func(r *Request) { r.ServiceAccount = "default" },
			wantRule: "payments", wantParam: "serviceAccount"},
		{name: "roleName", change: func(r *Request) { r.Role = "other-role" },
			wantRule: "payments", wantParam: "roleName"},
		{name: "authMount", change: func(r *Request) { r.AuthMount = "jwt" },
			wantRule: "payments", wantParam: "vaultAuthMountPath"},
		{name: "authMount named by the key the class set", change: func(r *Request) {
			r.AuthMount = "jwt"
			r.Set = append(r.Set, "vaultKubernetesMountPath")
		}, wantRule: "payments", wantParam: "vaultKubernetesMountPath"},
		{name: "authMount pattern", change: func(r *Request) { r.AuthMount = "team-a" }},
		{name: "authMount pattern and ..", change: func(r *Request) { r.AuthMount = "team-a/../../sys" },
			wantRule: "payments", wantParam: "vaultAuthMountPath"},
		{name: "vaultNamespace", change: func(r *Request) { r.VaultNamespace = "admin" },
			wantRule: "payments", wantParam: "vaultNamespace"},
		{name: "vaultNamespace with slashes", change: func(r *Request) { r.VaultNamespace = "/payments/" }},
		{name: "vaultNamespace and ..", change: func(r *Request) { r.VaultNamespace = "payments/.." },
			wantRule: "payments", wantParam: "vaultNamespace"},
		{name: "secretPath outside", change: secrets(Secret{Method: "GET", Path: "secret/data/other/db"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "secretPath indexed", change: secrets(
			Secret{Method: "GET", Path: "secret/data/payments/a"}, Secret{Method: "POST", Path: "pki/issue/payments"}, Secret{Method: "GET", Path: "kv/x"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "secretPath leading slash", change: secrets(Secret{Method: "GET", Path: "/secret/data/payments/db"})},
		{name: "secretPath: the folder itself", change: secrets(Secret{Method: "GET", Path: "secret/data/payments"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "secretPath: sibling of the folder", change: secrets(Secret{Method: "GET", Path: "secret/data/payments-old/db"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "secretPath: exact entry", change: secrets(Secret{Method: "POST", Path: "pki/issue/payments"})},
		{name: "secretPath: exact entry is not a folder", change: secrets(Secret{Method: "POST", Path: "pki/issue/payments/x"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "secretPath: exact entry is not a string prefix", change: secrets(Secret{Method: "POST", Path: "pki/issue/payments-admin"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal ..", change: secrets(Secret{Method: "GET", Path: "secret/data/payments/../other"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal .. at the end", change: secrets(Secret{Method: "GET", Path: "secret/data/payments/x/../.."}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal .", change: secrets(Secret{Method: "GET", Path: "secret/data/payments/./x"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal //", change: secrets(Secret{Method: "GET", Path: "secret/data/payments//x"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal percent-encoded", change: secrets(Secret{Method: "GET", Path: "secret/data/payments/%2e%2e/other"}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "traversal backslash", change: secrets(Secret{Method: "GET", Path: `secret/data/payments/..\other`}),
			wantRule: "payments", wantParam: "secretPath"},
		{name: "method refused", change: secrets(Secret{Method: "PUT", Path: "secret/data/payments/db"}),
			wantRule: "payments", wantParam: "method"},
		{name: "method of an exact entry", change: secrets(Secret{Method: "GET", Path: "pki/issue/payments"}),
			wantRule: "payments", wantParam: "method"},
		{name: "methods omitted: POST", change: secrets(Secret{Method: "POST", Path: "secret/data/shared/x"})},
		{name: "methods omitted: not DELETE", change: secrets(Secret{Method: "DELETE", Path: "secret/data/shared/x"}),
			wantRule: "payments", wantParam: "method"},
		{name: "rule order: serviceAccount first", change: func(r *Request) { r.ServiceAccount, r.Role = "x", "y" },
			wantRule: "payments", wantParam: "serviceAccount"},

		// Which rule applies.
		{name: "first matching rule wins", change: func(r *Request) { r.Namespace = "payments-x" }},
		{name: "default rule: unmatched namespace", change: func(r *Request) { r.Namespace = "other" },
			wantRule: DefaultRule, wantParam: "roleName"},
		{name: "default rule allows its role", change: func(r *Request) {
			r.Namespace, r.Role, r.Secrets = "other", "guest", nil
		}},
		{name: "default rule: empty secretPaths allows none", change: func(r *Request) { r.Namespace, r.Role = "other", "guest" },
			wantRule: DefaultRule, wantParam: "secretPath"},
		{name: "default rule: omitted serviceAccounts allow any", change: func(r *Request) {
			r.Namespace, r.Role, r.Secrets, r.ServiceAccount = "other", "guest", nil, "anything"
		}},
		{name: "labels: all match, empty roles allow none", change: func(r *Request) {
			r.Namespace, r.NamespaceLabels = "search-a", map[string]string{"team": "search", "tier": "prod"}
		}, wantRule: "labelled", wantParam: "roleName"},
		{name: "labels and names; omitted secretPaths allow any", change: func(r *Request) {
			r.Namespace, r.Role = "search-a", "search"
			r.NamespaceLabels = map[string]string{"team": "search", "tier": "dev"}
			r.Secrets = []Secret{{Method: "DELETE", Path: "anything/at/all"}}
		}},
		{name: "labels without the name", change: func(r *Request) {
			r.Namespace, r.Role = "other", "search"
			r.NamespaceLabels = map[string]string{"team": "search"}
		}, wantRule: DefaultRule, wantParam: "roleName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := paymentsRequest()
			tc.change(&r)
			err := pol.Check(r)
			if tc.wantRule == "" {
				if err != nil {
					t.Fatalf("Check: %v, want allowed", err)
				}
				return
			}
			var d *Denied
			if !errors.As(err, &d) || !errors.Is(err, ErrDenied) {
				t.Fatalf("Check: %v, want a *Denied wrapping ErrDenied", err)
			}
			if d.Rule != tc.wantRule || d.Parameter != tc.wantParam {
				t.Errorf("denied by %q on %q, want %q on %q (%v)", d.Rule, d.Parameter, tc.wantRule, tc.wantParam, err)
			}
		})
	}
}

// Without vaultAddress in classMayNotSet, a pod's address is still held to
// vaultAddresses.
func TestCheckOverrideByAddresses(t *testing.T) {
	pol := mustParse(t, "vaultAddresses: [https://vault.vault.svc:8200]\n")
	r := Request{Set: []string{"vaultAddress"}, Addresses: []string{"https://pod.example.com:8200"}}
	var d *Denied
	if err := pol.Check(r); !errors.As(err, &d) || d.Rule != AddressesPart || d.Parameter != "vaultAddress" {
		t.Fatalf("Check: %v, want denied by vaultAddresses on vaultAddress", err)
	}
	r.Addresses = []string{"https://vault.vault.svc:8200"}
	if err := pol.Check(r); err != nil {
		t.Fatalf("Check of the allowed address: %v", err)
	}
}

func TestDeniedMessage(t *testing.T) {
	pol := mustParse(t, testPolicy)
	r := paymentsRequest()
	r.Role = "other-role"
	want := `refused by the node's policy: rule "payments" does not allow roleName "other-role" (allowed: payments-*)`
	if err := pol.Check(r); err == nil || err.Error() != want {
		t.Errorf("message:\n got %v\nwant %s", err, want)
	}
}

// A class's values may be as long as the attributes; a message shows a
// bounded prefix of one and its length, never more.
func TestDeniedMessageBounded(t *testing.T) {
	long := strings.Repeat("x\x00é", 4000)
	manyRoles := "rules:\n- name: r\n  namespaces: {names: [ns]}\n  roles:\n" + strings.Repeat("  - "+strings.Repeat("r", 100)+"\n", 500)
	tests := []struct {
		name   string
		policy string
		change func(*Request)
	}{
		{"role", testPolicy, func(r *Request) { r.Role = long }},
		{"address", testPolicy, func(r *Request) { r.Addresses = []string{"https://" + long} }},
		{"path", testPolicy, secrets(Secret{Method: "GET", Path: "secret/data/other/" + long})},
		{"traversal", testPolicy, secrets(Secret{Method: "GET", Path: "secret/data/payments/../" + long})},
		{"method", testPolicy, secrets(Secret{Method: long, Path: "secret/data/payments/x"})},
		{"authMount", testPolicy, func(r *Request) { r.AuthMount = "team-" + long }},
		{"long allowed list", manyRoles, func(r *Request) { r.Namespace, r.Role = "ns", long }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := paymentsRequest()
			tc.change(&r)
			err := mustParse(t, tc.policy).Check(r)
			if err == nil {
				t.Fatal("allowed, want denied")
			}
			msg := err.Error()
			if len(msg) > maxMessageBytes {
				t.Errorf("message is %d bytes, more than %d", len(msg), maxMessageBytes)
			}
			if strings.Contains(msg, strings.Repeat(`x\x00é`, 10)) {
				t.Errorf("message holds more of the value than its quoted prefix: %s", msg)
			}
			if !strings.Contains(msg, "bytes)") {
				t.Errorf("message does not give the value's length: %s", msg)
			}
		})
	}
}

func TestRuleForAndNeedsLabels(t *testing.T) {
	pol := mustParse(t, testPolicy)
	tests := []struct {
		namespace string
		labels    map[string]string
		want      string
	}{
		{"payments", nil, "payments"},
		{"payments-x", nil, "payments"}, // not "shadowed": the first match wins
		{"paymentsx", nil, DefaultRule},
		{"search-a", map[string]string{"team": "search", "tier": "prod"}, "labelled"},
		{"other", map[string]string{"team": "search", "tier": "prod", "extra": "y"}, "labelled"},
		{"search-a", map[string]string{"team": "search"}, "search"},
		{"search-a", map[string]string{"team": "other"}, DefaultRule},
		{"search-a", nil, DefaultRule},
	}
	for _, tc := range tests {
		if got := pol.RuleFor(tc.namespace, tc.labels); got != tc.want {
			t.Errorf("RuleFor(%q, %v) = %q, want %q", tc.namespace, tc.labels, got, tc.want)
		}
	}
	if !pol.NeedsLabels() {
		t.Error("NeedsLabels() = false for a policy with label rules")
	}
	if mustParse(t, "rules: [{name: a, namespaces: {names: [a]}}]").NeedsLabels() {
		t.Error("NeedsLabels() = true for a policy matching by name only")
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "a/b", true},
		{"payments-*", "payments-", true},
		{"payments-*", "payments-a/b", true},
		{"payments-*", "payments", false},
		{"*.vault.svc", "a.vault.svc", true},
		{"*.vault.svc", "vault.svc", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*a*a*a*b", strings.Repeat("a", 100), false},
		{"a?", "ab", false}, // "?" is literal
		{"a?", "a?", true},
	}
	for _, tc := range tests {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestListed(t *testing.T) {
	long := strings.Repeat("r", 100)
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{}, "none"},
		{[]string{"payments-*", ""}, `payments-*, ""`},
		{[]string{"a b", "https://v:8200"}, `"a b", https://v:8200`},
		{[]string{long, long, long}, long + ", and 2 more"},
		{[]string{long + long}, long + long}, // the first is always shown
	}
	for _, tc := range tests {
		if got := listed(tc.in); got != tc.want {
			t.Errorf("listed(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A Vault Agent's socket is allowed by its exact path only: a pattern there
// could reach any socket of the node.
func TestCheckUnixAddresses(t *testing.T) {
	pol := mustParse(t, "vaultAddresses: [\"unix:///run/vault/agent.sock\", \"https://vault:8200\"]\n")
	for addr, allowed := range map[string]bool{
		"unix:///run/vault/agent.sock":        true,
		"unix:///run/vault/../docker.sock":    false,
		"unix:///run/vault/agent.sock/":       false,
		"unix:///var/run/docker.sock":         false,
		"unix://run/vault/agent.sock":         false,
		"https://vault:8200":                  true,
		"unix:///run/vault/agent.sock,x":      false,
		"UNIX:///run/vault/agent.sock":        false,
		"http://unix:///run/vault/agent.sock": false,
	} {
		err := pol.Check(Request{Addresses: []string{addr}})
		if (err == nil) != allowed {
			t.Errorf("%s: Check = %v, want allowed %v", addr, err, allowed)
		}
	}
	for _, pat := range []string{"unix:///run/*", "unix://relative.sock", "unix:///a/../b"} {
		if _, err := Parse([]byte("vaultAddresses: [\"" + pat + "\"]\n")); err == nil {
			t.Errorf("pattern %s parsed, want refused", pat)
		}
	}
}
