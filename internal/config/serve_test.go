package config

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

func env(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func TestParseServeDefaults(t *testing.T) {
	got, err := ParseServe(nil, env(map[string]string{"POD_NAMESPACE": "csi", "NODE_NAME": "node-1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &Serve{
		Endpoint:                "/provider/vault.sock",
		HealthAddr:              ":8080",
		LogLevel:                "info",
		LogFormat:               "text",
		HMACSecretName:          "vault-csi-provider-hmac-key",
		Namespace:               "csi",
		CacheSize:               1000,
		Concurrency:             8,
		MetricsAddr:             ":8081",
		MaxVaultRequests:        64,
		VaultRetryBudget:        10,
		MaxKeptBytesPerPod:      4 << 20,
		MaxKeptBytes:            32 << 20,
		RevokeOnPodDelete:       true,
		NodeName:                "node-1",
		AllowedAudiences:        []string{"vault"},
		ServiceAccountTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
		ShutdownTimeout:         10 * time.Second,
		PolicyReload:            10 * time.Second,
		MaxStaleBytes:           16 << 20,
		StateFile:               "/provider/vault.state",
		StateSecretName:         "vault-csi-provider-state-key",
		MaxStateBytes:           16 << 20,
		// A quarter of -max-vault-requests.
		MaxVaultRequestsPerNamespace: 16,
		Defaults: spc.Defaults{
			Vault:     vault.Config{Address: "https://127.0.0.1:8200"},
			AuthMount: "kubernetes",
			Audience:  "vault",
			Limits:    spc.DefaultLimits(),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestEnvironmentThenFlags checks env < flags for every Vault setting.
func TestEnvironmentThenFlags(t *testing.T) {
	e := env(map[string]string{
		"VAULT_ADDR":            "https://env:8200",
		"VAULT_NAMESPACE":       "env-ns",
		"VAULT_CACERT":          "/env/ca.pem",
		"VAULT_CAPATH":          "/env/cas",
		"VAULT_TLS_SERVER_NAME": "env.example",
		"VAULT_CLIENT_CERT":     "/env/cert.pem",
		"VAULT_CLIENT_KEY":      "/env/key.pem",
		"VAULT_SKIP_VERIFY":     "true",
		"POD_NAMESPACE":         "csi",
	})
	fromEnv, err := ParseServe(nil, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := vault.Config{Address: "https://env:8200", Namespace: "env-ns", CACert: "/env/ca.pem", CADirectory: "/env/cas",
		TLSServerName: "env.example", ClientCert: "/env/cert.pem", ClientKey: "/env/key.pem", SkipVerify: true}
	if diff := cmp.Diff(wantEnv, fromEnv.Defaults.Vault); diff != "" {
		t.Errorf("from environment (-want +got):\n%s", diff)
	}

	fromFlags, err := ParseServe([]string{
		"-vault-addr=unix:///run/agent.sock", "-vault-namespace=flag-ns", "-vault-tls-ca-cert=/flag/ca.pem",
		"-vault-tls-ca-directory=/flag/cas", "-vault-tls-server-name=flag.example", "-vault-tls-client-cert=/flag/cert.pem",
		"-vault-tls-client-key=/flag/key.pem", "-vault-tls-skip-verify=false", "-vault-mount=jwt",
	}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := spc.Defaults{
		Vault: vault.Config{Address: "unix:///run/agent.sock", Namespace: "flag-ns", CACert: "/flag/ca.pem", CADirectory: "/flag/cas",
			TLSServerName: "flag.example", ClientCert: "/flag/cert.pem", ClientKey: "/flag/key.pem"},
		AuthMount: "jwt",
		Audience:  "vault",
		Limits:    spc.DefaultLimits(),
	}
	if diff := cmp.Diff(wantFlags, fromFlags.Defaults); diff != "" {
		t.Errorf("flags over environment (-want +got):\n%s", diff)
	}
}

// TestReferenceDaemonSetArgs parses the arguments an existing
// hashicorp/vault-csi-provider DaemonSet passes.
func TestReferenceDaemonSetArgs(t *testing.T) {
	args := []string{"-endpoint=/provider/vault.sock", "-debug=true", "-health-addr=:8080",
		"-hmac-secret-name=my-hmac", "-cache-size=500", "-vault-addr=https://vault.vault:8200", "-vault-mount=k8s-auth"}
	got, err := ParseServe(args, env(map[string]string{"POD_NAMESPACE": "csi"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogLevel != "debug" || got.HMACSecretName != "my-hmac" || got.CacheSize != 500 ||
		got.Defaults.Vault.Address != "https://vault.vault:8200" || got.Defaults.AuthMount != "k8s-auth" {
		t.Errorf("parsed %+v", got)
	}
}

func TestParseServeReportsEveryProblem(t *testing.T) {
	args := []string{"-log-level=loud", "-log-format=xml", "-cache-size=-1", "-mount-concurrency=0",
		"-hmac-secret-name=Not_Valid", "-vault-addr=ftp://vault", "-health-addr=8080", "-endpoint=",
		"-metrics-addr=9090", "-max-vault-requests=-1", "-vault-retry-budget=NaN"}
	_, err := ParseServe(args, env(map[string]string{"VAULT_SKIP_VERIFY": "maybe"}), io.Discard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`-log-level "loud"`, `-log-format "xml"`, "-cache-size", "-mount-concurrency",
		`-hmac-secret-name "Not_Valid"`, `-vault-addr "ftp://vault"`, `-health-addr "8080"`, "-endpoint", "VAULT_SKIP_VERIFY",
		`-metrics-addr "9090"`, "-max-vault-requests", "-vault-retry-budget"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestParseServeState(t *testing.T) {
	tests := []struct {
		args    []string
		want    string // StateFile
		wantErr string
	}{
		{args: []string{"-endpoint=/etc/kubernetes/secrets-store-csi-providers/vault.sock"}, want: "/etc/kubernetes/secrets-store-csi-providers/vault.state"},
		{args: []string{"-state-file="}, want: ""},
		{args: []string{"-state-file=/var/lib/vcsp/state"}, want: "/var/lib/vcsp/state"},
		{args: []string{"-state-file=state"}, wantErr: "must be an absolute path"},
		{args: []string{"-max-stale-if-error=-1s"}, wantErr: "-max-stale-if-error"},
		{args: []string{"-max-stale-bytes=0"}, wantErr: "-max-stale-bytes"},
		{args: []string{"-max-state-bytes=10"}, wantErr: "-max-state-bytes"},
		{args: []string{"-state-secret-name=vault-csi-provider-hmac-key"}, wantErr: "must differ"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseServe(tt.args, env(nil), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.StateFile != tt.want {
				t.Errorf("StateFile %q, want %q", got.StateFile, tt.want)
			}
		})
	}
}

func TestParseServeMountConcurrencyBelowCap(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"-mount-concurrency=8", "-max-vault-requests=64"}, false},
		{[]string{"-mount-concurrency=63", "-max-vault-requests=64"}, false},
		{[]string{"-mount-concurrency=64", "-max-vault-requests=64"}, true},
		{[]string{"-max-vault-requests=4"}, true},                            // the default 8 is not below 4
		{[]string{"-mount-concurrency=100", "-max-vault-requests=0"}, false}, // no cap
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := ParseServe(tt.args, env(nil), io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %t", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "lower -mount-concurrency or raise -max-vault-requests") {
				t.Errorf("error does not say what to change: %v", err)
			}
		})
	}
}

func TestParseServeTokenAndShutdownFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(*Serve) bool
		wantErr string
	}{
		{"audiences listed", []string{"-allowed-audiences=vault, custom-aud"},
			func(s *Serve) bool { return slices.Equal(s.AllowedAudiences, []string{"vault", "custom-aud"}) }, ""},
		{"no audience", []string{"-allowed-audiences="}, func(s *Serve) bool { return len(s.AllowedAudiences) == 0 }, ""},
		{"empty element", []string{"-allowed-audiences=vault,,x"}, nil, `-allowed-audiences ""`},
		{"control character", []string{"-allowed-audiences=va\x00ult"}, nil, "-allowed-audiences"},
		{"driver tokens only", []string{"-driver-tokens-only"}, func(s *Serve) bool { return s.DriverTokensOnly }, ""},
		{"token file", []string{"-service-account-token-file=/tmp/t"}, func(s *Serve) bool { return s.ServiceAccountTokenFile == "/tmp/t" }, ""},
		{"shutdown timeout", []string{"-shutdown-timeout=3s"}, func(s *Serve) bool { return s.ShutdownTimeout == 3*time.Second }, ""},
		{"zero shutdown timeout", []string{"-shutdown-timeout=0s"}, nil, "-shutdown-timeout must be positive"},
		{"policy file", []string{"-policy-file=/etc/p.yaml", "-policy-reload-interval=1s"},
			func(s *Serve) bool { return s.PolicyFile == "/etc/p.yaml" && s.PolicyReload == time.Second }, ""},
		{"zero policy reload", []string{"-policy-reload-interval=0s"}, nil, "-policy-reload-interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseServe(tt.args, env(nil), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("parsed %+v", s)
			}
		})
	}
}

func TestParseServeNamespaceShare(t *testing.T) {
	tests := []struct {
		args    []string
		want    int
		wantErr string
	}{
		{args: nil, want: 16},
		{args: []string{"-max-vault-requests=16"}, want: 9}, // at least -mount-concurrency+1
		{args: []string{"-max-vault-requests=9"}, want: 9},  // at most -max-vault-requests
		{args: []string{"-max-vault-requests=0"}, want: 0},  // no cap at all
		{args: []string{"-max-vault-requests-per-namespace=32"}, want: 32},
		{args: []string{"-max-vault-requests=0", "-max-vault-requests-per-namespace=32"}, want: 32},
		{args: []string{"-max-vault-requests-per-namespace=65"}, wantErr: "must be at most -max-vault-requests 64"},
		{args: []string{"-max-vault-requests-per-namespace=8"}, wantErr: "must be above -mount-concurrency 8"},
		{args: []string{"-max-vault-requests-per-namespace=-1"}, wantErr: "must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseServe(tt.args, env(nil), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxVaultRequestsPerNamespace != tt.want {
				t.Errorf("-max-vault-requests-per-namespace = %d, want %d", got.MaxVaultRequestsPerNamespace, tt.want)
			}
		})
	}
}

func TestParseServeAllowedTLSDirs(t *testing.T) {
	tests := []struct {
		arg     string
		want    []string
		wantErr bool
	}{
		{arg: "", want: nil},
		{arg: "/vault/tls", want: []string{"/vault/tls"}},
		{arg: "/vault/tls, /etc/vault-ca", want: []string{"/vault/tls", "/etc/vault-ca"}},
		{arg: "vault/tls", wantErr: true},
		{arg: "/vault/../etc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := ParseServe([]string{"-allowed-tls-dirs=" + tt.arg}, env(nil), io.Discard)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "-allowed-tls-dirs") {
					t.Fatalf("err = %v, want an -allowed-tls-dirs problem", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.AllowedTLSDirs); diff != "" {
				t.Errorf("-allowed-tls-dirs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseServeHelpAndVersion(t *testing.T) {
	if _, err := ParseServe([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
	s, err := ParseServe([]string{"-version", "-log-level=bogus"}, env(nil), io.Discard)
	if err != nil || !s.ShowVersion {
		t.Errorf("-version: %v %+v", err, s)
	}
	if _, err := ParseServe([]string{"stray"}, env(nil), io.Discard); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestParseCheck(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"token file and out dir", []string{"-f=spc.yaml", "-token-file=t", "-out=dir"}, nil},
		{"kubeconfig, pod and dry run", []string{"-f=spc.yaml", "-kubeconfig=kc", "-pod-name=web", "-dry-run"}, nil},
		{"nothing", nil, []string{"-f is required", "-token-file", "exactly one of -out DIR or -dry-run"}},
		{"kubeconfig without pod", []string{"-f=x", "-kubeconfig=kc", "-dry-run"}, []string{"-pod-name is required"}},
		{"both out and dry run", []string{"-f=x", "-token-file=t", "-out=d", "-dry-run"}, []string{"exactly one"}},
		{"policy only", []string{"-f=x", "-policy=p.yaml", "-dry-run", "-namespace-labels=team=shop, tier=prod"}, nil},
		{"policy only needs dry run", []string{"-f=x", "-policy=p.yaml", "-out=d"}, []string{"add -dry-run"}},
		{"policy only with a kubeconfig", []string{"-f=x", "-policy=p.yaml", "-dry-run", "-kubeconfig=kc"}, nil},
		{"bad labels", []string{"-f=x", "-policy=p.yaml", "-dry-run", "-namespace-labels=team"}, []string{`-namespace-labels: "team" is not key=value`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCheck(tt.args, env(nil), io.Discard)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		})
	}
}

func TestLimitFlags(t *testing.T) {
	tests := []struct {
		flag    string
		value   string
		get     func(spc.Limits) int
		want    int
		wantErr string
	}{
		{"-max-attributes-bytes", "2097152", func(l spc.Limits) int { return l.AttributesBytes }, 2 << 20, ""},
		{"-max-objects", "1000", func(l spc.Limits) int { return l.Objects }, 1000, ""},
		{"-max-yaml-nodes", "200000", func(l spc.Limits) int { return l.YAMLNodes }, 200000, ""},
		{"-max-secret-args-bytes", "131072", func(l spc.Limits) int { return l.SecretArgsBytes }, 128 << 10, ""},
		{"-max-mount-bytes", "16777216", func(l spc.Limits) int { return l.MountBytes }, 16 << 20, ""},
		{"-max-attributes-bytes", "0", nil, 0, "-max-attributes-bytes must be 1 or more"},
		{"-max-objects", "-1", nil, 0, "-max-objects must be 1 or more"},
		{"-max-yaml-nodes", "0", nil, 0, "-max-yaml-nodes must be 1 or more"},
		{"-max-secret-args-bytes", "0", nil, 0, "-max-secret-args-bytes must be 1 or more"},
		{"-max-mount-bytes", "0", nil, 0, "-max-mount-bytes must be 1 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			arg := tt.flag + "=" + tt.value
			s, err := ParseServe([]string{arg}, env(nil), io.Discard)
			c, cerr := ParseCheck([]string{"-f=spc.yaml", "-token-file=t", "-dry-run", arg}, env(nil), io.Discard)
			if tt.wantErr != "" {
				for _, err := range []error{err, cerr} {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
					}
				}
				return
			}
			if err != nil || cerr != nil {
				t.Fatalf("serve: %v, check: %v", err, cerr)
			}
			if got := tt.get(s.Defaults.Limits); got != tt.want {
				t.Errorf("serve: %s gives %d, want %d", arg, got, tt.want)
			}
			if got := tt.get(c.Defaults.Limits); got != tt.want {
				t.Errorf("check: %s gives %d, want %d", arg, got, tt.want)
			}
		})
	}
}

// TestKeptBytesFlags: the bounds on the leases and certificates kept.
func TestKeptBytesFlags(t *testing.T) {
	tests := []struct {
		args            []string
		perPod, perNode int
		problems        []string
	}{
		{args: nil, perPod: 4 << 20, perNode: 32 << 20},
		{args: []string{"-max-kept-bytes-per-pod=1048576", "-max-kept-bytes=8388608"}, perPod: 1 << 20, perNode: 8 << 20},
		{args: []string{"-max-kept-bytes-per-pod=8388608", "-max-kept-bytes=8388608"}, perPod: 8 << 20, perNode: 8 << 20},
		{args: []string{"-max-kept-bytes-per-pod=0"}, problems: []string{"-max-kept-bytes-per-pod must be 1 or more (to keep nothing, set -lease-reuse=false"}},
		{args: []string{"-max-kept-bytes-per-pod=-1", "-max-kept-bytes=0"},
			problems: []string{"-max-kept-bytes-per-pod must be 1 or more", "-max-kept-bytes must be 1 or more"}},
		{args: []string{"-max-kept-bytes=1048576"}, problems: []string{"-max-kept-bytes-per-pod 4194304 must be at most -max-kept-bytes 1048576"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseServe(tt.args, env(nil), io.Discard)
			if len(tt.problems) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, p := range tt.problems {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error lacks %q: %v", p, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxKeptBytesPerPod != tt.perPod || got.MaxKeptBytes != tt.perNode {
				t.Errorf("kept bytes per pod %d, node %d; want %d, %d", got.MaxKeptBytesPerPod, got.MaxKeptBytes, tt.perPod, tt.perNode)
			}
		})
	}
}

// TestReuseFlags: the node's reuse of leases and certificates, which
// classes start from.
func TestReuseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    spc.Certificates
		noLease bool
		problem string
	}{
		{args: nil},
		{args: []string{"-lease-reuse=false"}, noLease: true},
		{args: []string{"-certificate-reuse=false"}, want: spc.Certificates{Off: true}},
		{args: []string{"-certificate-reuse"}},
		{args: []string{"-renew-before=2h"}, want: spc.Certificates{RenewBefore: 2 * time.Hour}},
		{args: []string{"-renew-before-percentage=25"}, want: spc.Certificates{RenewBeforePercentage: 25}},
		{args: []string{"-renew-before=2h", "-renew-before-percentage=25"}, problem: "both set"},
		{args: []string{"-renew-before-percentage=100"}, problem: "from 0 to 99"},
		{args: []string{"-renew-before=-1s"}, problem: "must not be negative"},
		{args: []string{"-certificate-reuse=sometimes"}, problem: "invalid boolean"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseServe(tt.args, env(map[string]string{"POD_NAMESPACE": "csi"}), io.Discard)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("err = %v, want one containing %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Defaults.Certificates != tt.want || got.Defaults.NoLeaseReuse != tt.noLease {
				t.Errorf("certificates %+v, no lease reuse %t; want %+v, %t", got.Defaults.Certificates, got.Defaults.NoLeaseReuse, tt.want, tt.noLease)
			}
		})
	}
}
