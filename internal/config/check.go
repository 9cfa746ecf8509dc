package config

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// Check holds the settings of the offline mount check
// (vault-csi-provider mount).
type Check struct {
	// SPCFile is a SecretProviderClass manifest.
	SPCFile string
	// PodName, PodNamespace, PodUID and ServiceAccount identify the pod the
	// mount is for; with -kubeconfig, UID and service account are read from
	// the pod.
	PodName        string
	PodNamespace   string
	PodUID         string
	ServiceAccount string
	// TokenFile holds a service-account token; without it a token is
	// requested with the TokenRequest API through Kubeconfig.
	TokenFile  string
	Kubeconfig string
	OutDir     string
	DryRun     bool
	LogLevel   string
	Defaults   spc.Defaults
	// PolicyFile is a node policy to check the class against; without a
	// token file or a pod to request one for, the check stops there.
	PolicyFile string
	// NamespaceLabels stand for the pod's namespace's labels, for policy
	// rules that match by label.
	NamespaceLabels map[string]string
}

// PolicyOnly reports whether the check judges the class by the policy
// without mounting: there is no token to log in with, nor a pod to request
// one for (KUBECONFIG alone, often set in a shell, does not make a mount).
func (c *Check) PolicyOnly() bool {
	return c.PolicyFile != "" && c.TokenFile == "" && c.PodName == ""
}

// ParseCheck parses the arguments of the mount subcommand.
func ParseCheck(args []string, getenv Getenv, usage io.Writer) (*Check, error) {
	fs := flag.NewFlagSet("vault-csi-provider mount", flag.ContinueOnError)
	fs.SetOutput(usage)
	c := &Check{}
	fs.StringVar(&c.SPCFile, "f", "", "SecretProviderClass manifest (YAML) to mount (required)")
	fs.StringVar(&c.PodName, "pod-name", "", "name of the pod the volume is for (required with -kubeconfig)")
	fs.StringVar(&c.PodNamespace, "pod-namespace", "", "namespace of the pod (default: the SecretProviderClass's namespace)")
	fs.StringVar(&c.PodUID, "pod-uid", "", "UID of the pod (read from the API with -kubeconfig)")
	fs.StringVar(&c.ServiceAccount, "service-account", "", "service account of the pod (read from the API with -kubeconfig; default \"default\")")
	fs.StringVar(&c.TokenFile, "token-file", "", "file holding the pod's service-account token for the audience")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig used to read the pod and request its token (env KUBECONFIG)")
	fs.StringVar(&c.OutDir, "out", "", "directory to write the files into")
	fs.BoolVar(&c.DryRun, "dry-run", false, "print what would be written (names, modes, sizes, versions; never values)")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fs.StringVar(&c.PolicyFile, "policy", "", "a node policy (the provider's -policy-file) to check the class against, before anything else; "+
		"with -dry-run and neither -token-file nor -pod-name, only the policy is checked")
	labels := fs.String("namespace-labels", "", "labels of the pod's namespace for -policy rules that match by label, e.g. team=shop,tier=prod")
	defaults, validateVault := vaultFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.Defaults = *defaults
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q (flags start with -)", fs.Args()))
	}
	if err := validateVault(); err != nil {
		problems = append(problems, err.Error())
	}
	if c.SPCFile == "" {
		problems = append(problems, "-f is required: the SecretProviderClass manifest to mount")
	}
	if l, err := parseLabels(*labels); err != nil {
		problems = append(problems, "-namespace-labels: "+err.Error())
	} else {
		c.NamespaceLabels = l
	}
	switch {
	case c.PolicyOnly() && !c.DryRun:
		problems = append(problems, "-policy without -token-file or -pod-name checks the policy only: add -dry-run")
	case c.PolicyOnly():
	case c.TokenFile == "" && c.Kubeconfig == "":
		problems = append(problems, "give -token-file, or -kubeconfig to request a token for the pod (or only -policy FILE -dry-run to check the policy)")
	case c.TokenFile == "" && c.PodName == "":
		problems = append(problems, "-pod-name is required to request a token for the pod")
	}
	if (c.OutDir == "") == !c.DryRun {
		problems = append(problems, "give exactly one of -out DIR or -dry-run")
	}
	return c, joinProblems(problems)
}

// parseLabels reads "k=v,k2=v2".
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
