package spc

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

const oneObject = "- objectName: password\n  secretPath: secret/data/app\n  secretKey: password\n"

// validAttrs is what the driver sends for a minimal SecretProviderClass.
func validAttrs() map[string]string {
	return map[string]string{
		"roleName":                               "app",
		"objects":                                oneObject,
		"csi.storage.k8s.io/pod.name":            "web-0",
		"csi.storage.k8s.io/pod.namespace":       "shop",
		"csi.storage.k8s.io/pod.uid":             "0b1c",
		"csi.storage.k8s.io/serviceAccount.name": "web",
		// Keys the driver adds that the provider ignores.
		"secretProviderClass":               "vault-app",
		"csi.storage.k8s.io/ephemeral":      "false",
		"csi.storage.k8s.io/pod.labels":     "x",
		"csi.storage.k8s.io/serviceAccount": "ignored",
	}
}

func testDefaults() Defaults {
	return Defaults{
		Vault:     vault.Config{Address: "https://vault.default:8200", Namespace: "ns-default", CACert: "/etc/ca.pem"},
		AuthMount: "kubernetes",
		Audience:  "vault",
	}
}

func wantObject() Object {
	return Object{Name: "password", Path: "secret/data/app", Key: "password", Method: "GET", Encoding: EncodingUTF8}
}

// planOf is the plan of objs as ParseParams builds it.
func planOf(objs ...Object) *Plan {
	labels := make([]string, len(objs))
	for i, o := range objs {
		labels[i] = "object " + Quote(o.Name)
	}
	var probs problems
	return buildPlan(objs, labels, DefaultLimits(), &probs)
}

func wantParams() *Params {
	return &Params{
		RoleName:   "app",
		AuthMount:  "kubernetes",
		Audience:   "vault",
		Vault:      testDefaults().Vault,
		Pod:        auth.Pod{Name: "web-0", Namespace: "shop", UID: "0b1c", ServiceAccount: "web"},
		Plan:       planOf(wantObject()),
		LeaseReuse: true,
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		name     string
		attrs    map[string]string // merged over validAttrs
		defaults func(*Defaults)
		want     func(*Params)
	}{
		{name: "defaults only"},
		{
			name: "every parameter overrides its default",
			attrs: map[string]string{
				"vaultAddress":           "http://127.0.0.1:8200",
				"vaultNamespace":         "team-a",
				"audience":               "vault-prod",
				"vaultAuthMountPath":     "jwt",
				"vaultCACertPath":        "/spc/ca.pem",
				"vaultCADirectory":       "/spc/cas",
				"vaultTLSServerName":     "vault.internal",
				"vaultTLSClientCertPath": "/spc/tls.crt",
				"vaultTLSClientKeyPath":  "/spc/tls.key",
				"vaultSkipTLSVerify":     "true",
			},
			want: func(p *Params) {
				p.AuthMount, p.Audience = "jwt", "vault-prod"
				p.Vault = vault.Config{
					Address: "http://127.0.0.1:8200", Namespace: "team-a", CACert: "/spc/ca.pem", CADirectory: "/spc/cas",
					TLSServerName: "vault.internal", ClientCert: "/spc/tls.crt", ClientKey: "/spc/tls.key", SkipVerify: true,
				}
			},
		},
		{
			name:  "staleIfError: a window",
			attrs: map[string]string{"staleIfError": "10m"},
			want:  func(p *Params) { p.StaleIfError = 10 * time.Minute },
		},
		{
			name:  "leaseReuse turned off",
			attrs: map[string]string{"leaseReuse": "false"},
			want:  func(p *Params) { p.LeaseReuse = false },
		},
		{
			name:     "leaseReuse cannot turn on what the node turned off",
			attrs:    map[string]string{"leaseReuse": "true"},
			defaults: func(d *Defaults) { d.NoLeaseReuse = true },
			want:     func(p *Params) { p.LeaseReuse = false },
		},
		{
			name:     "certificates: the node's defaults",
			defaults: func(d *Defaults) { d.Certificates = Certificates{RenewBeforePercentage: 20} },
			want:     func(p *Params) { p.Certificates = Certificates{RenewBeforePercentage: 20} },
		},
		{
			name:     "certificates: the class's renewBefore replaces the node's percentage",
			attrs:    map[string]string{"renewBefore": "90m"},
			defaults: func(d *Defaults) { d.Certificates = Certificates{RenewBeforePercentage: 20} },
			want:     func(p *Params) { p.Certificates = Certificates{RenewBefore: 90 * time.Minute} },
		},
		{
			name:     "certificates: the class's percentage replaces the node's renewBefore",
			attrs:    map[string]string{"renewBeforePercentage": "50"},
			defaults: func(d *Defaults) { d.Certificates = Certificates{RenewBefore: time.Hour} },
			want:     func(p *Params) { p.Certificates = Certificates{RenewBeforePercentage: 50} },
		},
		{
			name:     "certificates: reuse turned off and on",
			attrs:    map[string]string{"certificateReuse": "true"},
			defaults: func(d *Defaults) { d.Certificates.Off = true },
		},
		{
			name:  "certificates: reuse turned off",
			attrs: map[string]string{"certificateReuse": "false"},
			want:  func(p *Params) { p.Certificates.Off = true },
		},
		{
			name: "empty parameters keep the defaults",
			attrs: map[string]string{
				"vaultAddress": "", "vaultNamespace": "", "audience": "", "vaultAuthMountPath": "",
				"vaultKubernetesMountPath": "", "vaultCACertPath": "", "vaultSkipTLSVerify": "",
			},
			defaults: func(d *Defaults) { d.Vault.SkipVerify = true; d.Vault.ClientCert = "/node/tls.crt" },
			want:     func(p *Params) { p.Vault.SkipVerify = true; p.Vault.ClientCert = "/node/tls.crt" },
		},
		{
			name:     "vaultSkipTLSVerify false overrides a true default",
			attrs:    map[string]string{"vaultSkipTLSVerify": "0"},
			defaults: func(d *Defaults) { d.Vault.SkipVerify = true },
		},
		{
			name:  "unix socket address",
			attrs: map[string]string{"vaultAddress": "unix:///run/vault/agent.sock"},
			want:  func(p *Params) { p.Vault.Address = "unix:///run/vault/agent.sock" },
		},
		{
			name:  "older alias vaultKubernetesMountPath",
			attrs: map[string]string{"vaultKubernetesMountPath": "k8s-cluster-b"},
			want:  func(p *Params) { p.AuthMount = "k8s-cluster-b" },
		},
		{
			name:  "auth mount with auth/ prefix and trailing slash",
			attrs: map[string]string{"vaultAuthMountPath": "auth/kubernetes/"},
		},
		{
			name:  "auth mount with leading slash",
			attrs: map[string]string{"vaultAuthMountPath": "/jwt"},
			want:  func(p *Params) { p.AuthMount = "jwt" },
		},
		{
			name:  "nested auth mount",
			attrs: map[string]string{"vaultAuthMountPath": "/auth/clusters/east/"},
			want:  func(p *Params) { p.AuthMount = "clusters/east" },
		},
		{
			name:     "default auth mount is cleaned too",
			defaults: func(d *Defaults) { d.AuthMount = "auth/jwt" },
			want:     func(p *Params) { p.AuthMount = "jwt" },
		},
		{
			name:     "no auth mount anywhere falls back to kubernetes",
			defaults: func(d *Defaults) { d.AuthMount = "" },
		},
		{
			name:  "driver tokens kept raw",
			attrs: map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": `{"vault":{"token":"t","expirationTimestamp":"x"}}`},
			want:  func(p *Params) { p.DriverTokens = `{"vault":{"token":"t","expirationTimestamp":"x"}}` },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			maps.Copy(attrs, tc.attrs)
			d := testDefaults()
			if tc.defaults != nil {
				tc.defaults(&d)
			}
			want := wantParams()
			if tc.want != nil {
				tc.want(want)
			}
			got, err := ParseParams(nil, attrs, d)
			if err != nil {
				t.Fatalf("ParseParams: %v", err)
			}
			if got.Bytes < attrsSize(attrs) {
				t.Errorf("Bytes %d below the attributes' %d", got.Bytes, attrsSize(attrs))
			}
			// Set has a test of its own (TestParseParamsSet).
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Params{}, "Bytes", "Set")); diff != "" {
				t.Errorf("ParseParams mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseParamsErrors(t *testing.T) {
	tests := []struct {
		name     string
		attrs    map[string]string // merged over validAttrs; "-" deletes the key
		defaults func(*Defaults)
		want     []string // each must appear in one problem
	}{
		{name: "missing roleName", attrs: map[string]string{"roleName": "-"}, want: []string{"roleName is required"}},
		{name: "empty roleName", attrs: map[string]string{"roleName": ""}, want: []string{"roleName is required"}},
		{
			name:  "bad vaultSkipTLSVerify",
			attrs: map[string]string{"vaultSkipTLSVerify": "yes"},
			want:  []string{`vaultSkipTLSVerify "yes" is not a boolean`},
		},
		{
			name:  "certificates: bad settings",
			attrs: map[string]string{"certificateReuse": "maybe", "renewBeforePercentage": "100"},
			want: []string{`certificateReuse "maybe" is not a boolean`,
				`renewBeforePercentage "100" is not a whole number from 1 to 99`},
		},
		{
			name:  "staleIfError not a duration",
			attrs: map[string]string{"staleIfError": "1 day"},
			want:  []string{`staleIfError "1 day" is not a duration of 0 or more`},
		},
		{
			name:  "staleIfError negative",
			attrs: map[string]string{"staleIfError": "-1m"},
			want:  []string{`staleIfError "-1m" is not a duration of 0 or more`},
		},
		{
			name:  "certificates: both renewBefore and its percentage",
			attrs: map[string]string{"renewBefore": "1h", "renewBeforePercentage": "10"},
			want:  []string{"both renewBefore and renewBeforePercentage are set"},
		},
		{
			name:  "certificates: renewBefore not a duration",
			attrs: map[string]string{"renewBefore": "2 days"},
			want:  []string{`renewBefore "2 days" is not a positive duration`},
		},
		{
			name:  "bad leaseReuse",
			attrs: map[string]string{"leaseReuse": "sometimes"},
			want:  []string{`leaseReuse "sometimes" is not a boolean`},
		},
		{
			name:  "both auth mount keys",
			attrs: map[string]string{"vaultAuthMountPath": "jwt", "vaultKubernetesMountPath": "kubernetes"},
			want:  []string{"keep only vaultAuthMountPath"},
		},
		{
			name:  "auth mount names nothing",
			attrs: map[string]string{"vaultAuthMountPath": "auth/"},
			want:  []string{`vaultAuthMountPath "auth/" names no auth mount`},
		},
		{
			name:  "auth mount with dot-dot",
			attrs: map[string]string{"vaultKubernetesMountPath": "a/../b"},
			want:  []string{`vaultKubernetesMountPath "a/../b" has an empty, "." or ".." element`},
		},
		{
			name:  "auth mount with query",
			attrs: map[string]string{"vaultAuthMountPath": "jwt?x=1"},
			want:  []string{`must not contain "?" or "#"`},
		},
		{
			name:     "no Vault address anywhere",
			defaults: func(d *Defaults) { d.Vault.Address = "" },
			want:     []string{"no Vault address: set vaultAddress in the SecretProviderClass, or the provider's -vault-addr flag or VAULT_ADDR"},
		},
		{
			name:  "address without scheme",
			attrs: map[string]string{"vaultAddress": "vault:8200"},
			want:  []string{`vaultAddress "vault:8200" must start with http://, https:// or unix://`},
		},
		{
			name:  "address without host",
			attrs: map[string]string{"vaultAddress": "https://"},
			want:  []string{`vaultAddress "https://" has no host`},
		},
		{
			name:  "address that is not a URL",
			attrs: map[string]string{"vaultAddress": "http://vault:port"},
			want:  []string{`vaultAddress "http://vault:port" is not a valid URL`},
		},
		{
			name:  "unix address without a socket",
			attrs: map[string]string{"vaultAddress": "unix://"},
			want:  []string{`vaultAddress "unix://" names no socket`},
		},
		{
			name:     "bad default address names its source",
			defaults: func(d *Defaults) { d.Vault.Address = "ftp://vault" },
			want:     []string{`default Vault address (-vault-addr flag or VAULT_ADDR) "ftp://vault" must start with`},
		},
		{
			name:  "missing pod keys",
			attrs: map[string]string{"csi.storage.k8s.io/pod.uid": "-", "csi.storage.k8s.io/serviceAccount.name": ""},
			want:  []string{"did not send csi.storage.k8s.io/pod.uid, csi.storage.k8s.io/serviceAccount.name: set podInfoOnMount: true"},
		},
		{name: "missing objects", attrs: map[string]string{"objects": "-"}, want: []string{"no objects"}},
		{
			name: "several problems at once",
			attrs: map[string]string{
				"roleName": "-", "vaultSkipTLSVerify": "maybe", "vaultAddress": "vault",
				"csi.storage.k8s.io/pod.name": "-",
				"objects":                     "- objectName: /etc/passwd\n  secretPath: x\n- secretPath: y\n  method: DELETE",
			},
			want: []string{
				"roleName is required",
				`vaultSkipTLSVerify "maybe"`,
				`vaultAddress "vault" must start with`,
				"did not send csi.storage.k8s.io/pod.name",
				`object "/etc/passwd": objectName: file path "/etc/passwd" is absolute`,
				"object #2 (line 3): objectName is required",
				`object #2 (line 3): method "DELETE" is not supported`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			for k, v := range tc.attrs {
				if v == "-" {
					delete(attrs, k)
				} else {
					attrs[k] = v
				}
			}
			d := testDefaults()
			if tc.defaults != nil {
				tc.defaults(&d)
			}
			p, err := ParseParams(nil, attrs, d)
			if p != nil {
				t.Errorf("ParseParams returned params %+v with an error", p)
			}
			assertProblems(t, err, tc.want)
		})
	}
}

// assertProblems checks that err is a *ParamsError with exactly one problem
// per wanted substring, each found in some problem.
func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var pe *ParamsError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *ParamsError", err)
	}
	for _, w := range want {
		found := false
		for _, p := range pe.Problems {
			found = found || strings.Contains(p, w)
		}
		if !found {
			t.Errorf("no problem contains %q; problems:\n%s", w, strings.Join(pe.Problems, "\n"))
		}
	}
	if len(pe.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(pe.Problems), len(want), strings.Join(pe.Problems, "\n"))
	}
}

func TestParamsErrorMessage(t *testing.T) {
	var err error = &ParamsError{Problems: []string{"roleName is required", "no objects"}}
	want := "invalid SecretProviderClass parameters: roleName is required; no objects"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseParamsNeverEchoesTokens(t *testing.T) {
	attrs := validAttrs()
	attrs["roleName"] = ""
	attrs["csi.storage.k8s.io/serviceAccount.tokens"] = `{"vault":{"token":"s3cr3t-jwt"}}`
	_, err := ParseParams(nil, attrs, testDefaults())
	if err == nil || strings.Contains(err.Error(), "s3cr3t-jwt") {
		t.Errorf("error %v: want an error that does not contain the token", err)
	}
}

// Set lists the class parameters the attributes hold, whoever wrote them
// (class or inline volumeAttributes): not the driver's keys, not empty
// values, not the node's defaults.
func TestParseParamsSet(t *testing.T) {
	attrs := validAttrs()
	attrs[KeyVaultAddress] = "https://other:8200"
	attrs[KeySkipVerify] = "false"
	attrs[KeyVaultNamespace] = ""
	p, err := ParseParams(nil, attrs, Defaults{Vault: vault.Config{Address: "https://vault:8200", Namespace: "team"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{KeyRoleName, KeyVaultAddress, KeySkipVerify, KeyObjects}
	if !slices.Equal(p.Set, want) {
		t.Errorf("Set = %q, want %q", p.Set, want)
	}
}
