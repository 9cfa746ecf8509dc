package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// inClusterNamespaceFile holds the namespace of the pod's service account.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Serve holds the daemon's settings.
type Serve struct {
	Endpoint       string
	HealthAddr     string
	LogLevel       string
	LogFormat      string
	HMACSecretName string
	// Namespace is where the HMAC key Secret lives: the provider's own.
	Namespace   string
	Kubeconfig  string
	CacheSize   int
	Concurrency int
	ShowVersion bool
	Defaults    spc.Defaults
	// MetricsAddr serves Prometheus metrics; empty disables them.
	MetricsAddr string
	// MaxVaultRequests caps the node's Vault calls in flight; 0: no cap.
	MaxVaultRequests int
	// VaultRetryBudget is the retries per second each Vault address may get
	// from this node beyond a fifth of the calls' first tries; 0: no budget.
	VaultRetryBudget float64
	// MaxVaultRequestsPerNamespace caps one pod namespace's Vault calls in
	// flight; 0: none. The flag's default 0 means a quarter of
	// MaxVaultRequests, and at least Concurrency+1.
	MaxVaultRequestsPerNamespace int
	// AllowedTLSDirs are where TLS files named by a SecretProviderClass may
	// be; empty: nowhere (the operator's own -vault-tls-* files always are).
	AllowedTLSDirs []string
	// MaxKeptBytesPerPod and MaxKeptBytes bound the memory of the leased
	// secrets and certificates kept for reuse, for one pod and the node.
	MaxKeptBytesPerPod int
	MaxKeptBytes       int
	// RevokeOnPodDelete revokes a deleted pod's Vault tokens and leases.
	RevokeOnPodDelete bool
	// NodeName selects the pods to watch; empty: no pod watch.
	NodeName string
	// AllowedAudiences are the audiences the TokenRequest fallback may
	// request for a class; empty: none.
	AllowedAudiences []string
	// DriverTokensOnly never calls the TokenRequest API: pods' tokens come
	// from the CSIDriver's tokenRequests only.
	DriverTokensOnly bool
	// ServiceAccountTokenFile is the provider's own token, whose aud claim
	// names the audiences the API server accepts (never requested).
	ServiceAccountTokenFile string
	// ShutdownTimeout bounds the wait for in-flight mounts on SIGTERM.
	ShutdownTimeout time.Duration
	// PolicyFile is the node's policy (internal/policy); empty: none, every
	// class may ask for anything, as hashicorp/vault-csi-provider lets it.
	PolicyFile string
	// PolicyReload is how often the policy file is read for changes.
	PolicyReload time.Duration
	// MaxStaleIfError caps the staleIfError a class may ask for; 0: the
	// node never answers from stale responses.
	MaxStaleIfError time.Duration
	// MaxStaleBytes bounds the memory of the responses kept for stale
	// answers.
	MaxStaleBytes int
	// StateFile keeps tokens, leases, certificates and stale responses
	// across restarts, encrypted; empty: nothing survives a restart.
	StateFile string
	// StateSecretName is the Secret holding the state file's key.
	StateSecretName string
	// MaxStateBytes bounds the state file.
	MaxStateBytes int
}

// ParseServe parses the daemon's arguments. flag.ErrHelp is returned for -h.
func ParseServe(args []string, getenv Getenv, usage io.Writer) (*Serve, error) {
	fs, finish := ServeFlags(getenv, usage)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}
	return finish()
}

// ServeFlags defines the daemon's flags on a new flag set; finish, called
// once the set has parsed the arguments, completes and validates the
// settings. ParseServe is built on it, and the test that keeps docs/flags.md
// complete lists its flags.
func ServeFlags(getenv Getenv, usage io.Writer) (fs *flag.FlagSet, finish func() (*Serve, error)) {
	fs = flag.NewFlagSet("vault-csi-provider", flag.ContinueOnError)
	fs.SetOutput(usage)
	s := &Serve{}
	var debug bool
	fs.StringVar(&s.Endpoint, "endpoint", "/provider/vault.sock", "unix socket the driver connects to; its name must be vault.sock in the driver's provider directory")
	fs.StringVar(&s.HealthAddr, "health-addr", ":8080", "address of the HTTP health endpoints /healthz and /readyz")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&debug, "debug", false, "same as -log-level=debug (kept for existing DaemonSets)")
	fs.StringVar(&s.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.HMACSecretName, "hmac-secret-name", "vault-csi-provider-hmac-key", "Kubernetes Secret holding the HMAC key for object versions")
	fs.StringVar(&s.Namespace, "namespace", getenv("POD_NAMESPACE"), "namespace of the HMAC key Secret (env POD_NAMESPACE; in-cluster default: the provider's namespace)")
	fs.StringVar(&s.Kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig for the Kubernetes API (env KUBECONFIG); empty: in-cluster config")
	fs.IntVar(&s.CacheSize, "cache-size", 1000, "Vault tokens kept in memory, one per pod identity; 0 disables the cache")
	fs.IntVar(&s.Concurrency, "mount-concurrency", 8, "Vault requests one mount may have in flight")
	fs.BoolVar(&s.ShowVersion, "version", false, "print version information and exit")
	fs.StringVar(&s.MetricsAddr, "metrics-addr", ":8081", "address of the Prometheus /metrics endpoint; empty disables it")
	fs.IntVar(&s.MaxVaultRequests, "max-vault-requests", 64, "Vault requests the whole node may have in flight; 0 for no cap")
	fs.IntVar(&s.MaxVaultRequestsPerNamespace, "max-vault-requests-per-namespace", 0,
		"Vault requests the pods of one namespace may have in flight, so one namespace cannot take every slot; 0: a quarter of -max-vault-requests, at least -mount-concurrency+1")
	fs.Float64Var(&s.VaultRetryBudget, "vault-retry-budget", vault.DefaultRetryPolicy().Budget.PerSecond,
		"retries per second each Vault address may get from this node while Vault fails, beyond a fifth of the calls' first tries (one namespace at most half); 0: no budget")
	var tlsDirs string
	fs.StringVar(&tlsDirs, "allowed-tls-dirs", "", "comma-separated absolute directories where TLS files named by a SecretProviderClass "+
		"(vaultCACertPath, vaultCADirectory, vaultTLSClientCertPath, vaultTLSClientKeyPath) may be; empty: none. The -vault-tls-* files are always allowed")
	leaseReuse := fs.Bool("lease-reuse", true, "return still-valid leased secrets (database credentials, leased certificates) on republish instead of new ones; false turns it off for every class")
	fs.IntVar(&s.MaxKeptBytesPerPod, "max-kept-bytes-per-pod", lease.DefaultMaxBytesPerPod,
		"estimated bytes of the leased secrets and certificates kept for reuse for one pod (for the sync controller: one namespace and service account); past it the pod's least recently used are dropped "+
			"(their leases are not revoked), and one larger than it is not kept")
	fs.IntVar(&s.MaxKeptBytes, "max-kept-bytes", lease.DefaultMaxBytes,
		"estimated bytes of the leased secrets and certificates kept for reuse on the node, at least -max-kept-bytes-per-pod; "+
			"past it the node's least recently used are dropped (their leases are not revoked)")
	fs.BoolVar(&s.RevokeOnPodDelete, "revoke-on-pod-delete", true, "revoke the Vault tokens and leases of a pod when it is deleted (needs -node-name and list/watch on pods)")
	fs.StringVar(&s.NodeName, "node-name", getenv("NODE_NAME"), "this node's name, to watch its pods (env NODE_NAME, from the downward API)")
	audiences := fs.String("allowed-audiences", "vault", "comma-separated audiences the provider may request through the TokenRequest API "+
		"when the driver passed no token for a class's audience; empty: none (driver tokens keep working for any audience)")
	fs.BoolVar(&s.DriverTokensOnly, "driver-tokens-only", false, "never call the TokenRequest API: use only the tokens the driver passes "+
		"(the CSIDriver's tokenRequests); the RBAC then needs no serviceaccounts/token create")
	fs.StringVar(&s.ServiceAccountTokenFile, "service-account-token-file", auth.InClusterTokenFile,
		"the provider's own service-account token; its aud claim names the audiences the API server accepts, which are never requested")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, how long in-flight mounts may finish before they are abandoned")
	fs.StringVar(&s.PolicyFile, "policy-file", "", "the node's policy (YAML): which Vault addresses, parameters, roles, auth mounts, "+
		"Vault namespaces, secret paths and service accounts each namespace's classes may use; empty: no policy")
	fs.DurationVar(&s.PolicyReload, "policy-reload-interval", 10*time.Second, "how often -policy-file is read for changes; "+
		"a file that does not parse leaves the last good policy in force")
	fs.DurationVar(&s.MaxStaleIfError, "max-stale-if-error", 0, "the longest staleIfError a class may ask for: while every address of its Vault "+
		"is down, a mount may be answered from the last good responses its identity read within it; 0: never")
	fs.IntVar(&s.MaxStaleBytes, "max-stale-bytes", stale.DefaultMaxBytes, "estimated bytes of the last good responses kept for staleIfError on the node; "+
		"past it the least recently used are dropped")
	fs.StringVar(&s.StateFile, "state-file", "", "encrypted file keeping Vault tokens, leases, certificates and stale responses across restarts; "+
		"default: vault.state beside -endpoint; set empty (-state-file=) for none")
	fs.StringVar(&s.StateSecretName, "state-secret-name", "vault-csi-provider-state-key", "Kubernetes Secret holding the state file's encryption key")
	fs.IntVar(&s.MaxStateBytes, "max-state-bytes", DefaultMaxStateBytes, "bound of the state file; what does not fit is left out, the least recently used first")
	defaults, validateVault := vaultFlags(fs, getenv)
	return fs, func() (*Serve, error) {
		if debug {
			s.LogLevel = "debug"
		}
		stateSet := false
		fs.Visit(func(f *flag.Flag) { stateSet = stateSet || f.Name == "state-file" })
		if !stateSet {
			s.StateFile = filepath.Join(filepath.Dir(s.Endpoint), StateFileName)
		}
		s.Defaults = *defaults
		s.Defaults.NoLeaseReuse = !*leaseReuse
		s.AllowedAudiences = splitList(*audiences)
		s.AllowedTLSDirs = splitList(tlsDirs)
		if s.Namespace == "" {
			if b, err := os.ReadFile(inClusterNamespaceFile); err == nil {
				s.Namespace = strings.TrimSpace(string(b))
			}
		}
		if s.ShowVersion {
			return s, nil
		}
		return s, s.validate(validateVault)
	}
}

func (s *Serve) validate(validateVault func() error) error {
	var problems []string
	if err := validateVault(); err != nil {
		problems = append(problems, err.Error())
	}
	if s.Endpoint == "" {
		problems = append(problems, "-endpoint must not be empty")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, s.LogLevel) {
		problems = append(problems, fmt.Sprintf("-log-level %q: use debug, info, warn or error", s.LogLevel))
	}
	if !slices.Contains([]string{"text", "json"}, s.LogFormat) {
		problems = append(problems, fmt.Sprintf("-log-format %q: use text or json", s.LogFormat))
	}
	for flagName, addr := range map[string]string{"-health-addr": s.HealthAddr, "-metrics-addr": s.MetricsAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q: use host:port, e.g. :8080", flagName, addr))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(s.HMACSecretName) {
		problems = append(problems, fmt.Sprintf("-hmac-secret-name %q: %s", s.HMACSecretName, msg))
	}
	if s.CacheSize < 0 {
		problems = append(problems, "-cache-size must be 0 or more")
	}
	if s.Concurrency < 1 {
		problems = append(problems, "-mount-concurrency must be 1 or more")
	}
	if s.MaxVaultRequests < 0 {
		problems = append(problems, "-max-vault-requests must be 0 or more")
	}
	if !(s.VaultRetryBudget >= 0) || math.IsInf(s.VaultRetryBudget, 0) {
		problems = append(problems, "-vault-retry-budget must be a number, 0 or more")
	}
	// Otherwise one mount of slow secrets could hold every slot and stall
	// the mounts of all other pods.
	if s.MaxVaultRequests > 0 && s.Concurrency >= s.MaxVaultRequests {
		problems = append(problems, fmt.Sprintf("-mount-concurrency %d must be below -max-vault-requests %d, so that one pod's slow secrets "+
			"cannot hold every Vault request slot: lower -mount-concurrency or raise -max-vault-requests", s.Concurrency, s.MaxVaultRequests))
	}
	for _, a := range s.AllowedAudiences {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
			problems = append(problems, fmt.Sprintf("-allowed-audiences %q: audiences must be non-empty, without spaces or control characters", a))
		}
	}
	problems = append(problems, s.validateKeptBytes()...)
	if s.ShutdownTimeout <= 0 {
		problems = append(problems, "-shutdown-timeout must be positive")
	}
	if s.PolicyReload <= 0 {
		problems = append(problems, "-policy-reload-interval must be positive")
	}
	problems = append(problems, s.validateNamespaceShare()...)
	problems = append(problems, s.validateState()...)
	for _, d := range s.AllowedTLSDirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d {
			problems = append(problems, fmt.Sprintf("-allowed-tls-dirs: %q is not a clean absolute directory path", d))
		}
	}
	return joinProblems(problems)
}

// DefaultMaxStateBytes bounds the state file: on most nodes it lies on a
// tmpfs, in memory.
const DefaultMaxStateBytes = 16 << 20

// StateFileName is the state file's name beside the socket by default.
const StateFileName = "vault.state"

func (s *Serve) validateState() []string {
	var problems []string
	if s.MaxStaleIfError < 0 {
		problems = append(problems, "-max-stale-if-error must be 0 or more")
	}
	if s.MaxStaleBytes < 1 {
		problems = append(problems, "-max-stale-bytes must be 1 or more (-max-stale-if-error=0 keeps nothing)")
	}
	if s.MaxStateBytes < 1<<10 {
		problems = append(problems, "-max-state-bytes must be 1024 or more (-state-file= writes none)")
	}
	if s.StateFile != "" && !filepath.IsAbs(s.StateFile) {
		problems = append(problems, fmt.Sprintf("-state-file %q must be an absolute path", s.StateFile))
	}
	for _, msg := range validation.IsDNS1123Subdomain(s.StateSecretName) {
		problems = append(problems, fmt.Sprintf("-state-secret-name %q: %s", s.StateSecretName, msg))
	}
	if s.StateSecretName == s.HMACSecretName {
		problems = append(problems, "-state-secret-name must differ from -hmac-secret-name")
	}
	return problems
}

// splitList splits a comma-separated flag value; an empty value is no
// element, and spaces around elements are dropped.
func splitList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// validateKeptBytes refuses 0, which would silently mint new credentials on
// every republish: -lease-reuse=false says that plainly.
func (s *Serve) validateKeptBytes() []string {
	var problems []string
	for _, f := range []struct {
		name  string
		value int
	}{{"-max-kept-bytes-per-pod", s.MaxKeptBytesPerPod}, {"-max-kept-bytes", s.MaxKeptBytes}} {
		if f.value < 1 {
			problems = append(problems, fmt.Sprintf("%s must be 1 or more (to keep nothing, set -lease-reuse=false and -certificate-reuse=false)", f.name))
		}
	}
	if len(problems) == 0 && s.MaxKeptBytesPerPod > s.MaxKeptBytes {
		problems = append(problems, fmt.Sprintf("-max-kept-bytes-per-pod %d must be at most -max-kept-bytes %d", s.MaxKeptBytesPerPod, s.MaxKeptBytes))
	}
	return problems
}

// validateNamespaceShare resolves the default share and checks it: above
// -mount-concurrency, so one pod's slow secrets never hold its whole
// namespace's share, and at most -max-vault-requests.
func (s *Serve) validateNamespaceShare() []string {
	share := s.MaxVaultRequestsPerNamespace
	switch {
	case share < 0:
		return []string{"-max-vault-requests-per-namespace must be 0 or more"}
	case share == 0 && s.MaxVaultRequests > 0:
		s.MaxVaultRequestsPerNamespace = min(max(s.MaxVaultRequests/4, s.Concurrency+1), s.MaxVaultRequests)
		return nil
	case share == 0:
		return nil
	case share <= s.Concurrency:
		return []string{fmt.Sprintf("-max-vault-requests-per-namespace %d must be above -mount-concurrency %d, so that one pod's slow secrets "+
			"cannot hold its namespace's every Vault request slot", share, s.Concurrency)}
	case s.MaxVaultRequests > 0 && share > s.MaxVaultRequests:
		return []string{fmt.Sprintf("-max-vault-requests-per-namespace %d must be at most -max-vault-requests %d", share, s.MaxVaultRequests)}
	}
	return nil
}

// joinProblems reports every problem at once.
func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
