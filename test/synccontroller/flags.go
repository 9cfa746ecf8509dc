package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// syncOptions are one SecretSync and the controller that syncs it.
type syncOptions struct {
	kubeconfig, providerDir, nodeName string
	// controllerNamespace and controllerPod name the controller's own pod.
	controllerNamespace, controllerPod string
	// namespace, name, serviceAccount and class are the SecretSync's.
	namespace, name, serviceAccount, class string
	// audience is the controller's --token-request-audience; empty: none.
	audience    string
	sourcePaths []string
	timeout     time.Duration
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseSync reads the sync command's flags and reports every problem at
// once.
func parseSync(args []string, usage io.Writer, getenv func(string) string) (*syncOptions, error) {
	o := &syncOptions{}
	fs := flag.NewFlagSet("e2e-sync-controller sync", flag.ContinueOnError)
	fs.SetOutput(usage)
	var controller string
	var sources listFlag
	fs.StringVar(&o.kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig of the API server (env KUBECONFIG)")
	fs.StringVar(&o.providerDir, "provider-dir", getenv("SYNC_PROVIDER_DIR"), "the controller's provider directory, holding PROVIDER.sock (env SYNC_PROVIDER_DIR)")
	fs.StringVar(&o.nodeName, "node-name", getenv("NODE_NAME"), "node of the controller's pod when it must be created (env NODE_NAME)")
	fs.StringVar(&controller, "controller", "", "the controller's own pod, NAMESPACE/NAME")
	fs.StringVar(&o.namespace, "namespace", "", "the SecretSync's namespace")
	fs.StringVar(&o.name, "name", "", "the SecretSync's name")
	fs.StringVar(&o.serviceAccount, "sa", "", "the SecretSync's spec.serviceAccountName")
	fs.StringVar(&o.class, "class", "", "the SecretSync's spec.secretProviderClassName (in its namespace)")
	fs.StringVar(&o.audience, "audience", "", "the controller's --token-request-audience; empty: no token is sent")
	fs.Var(&sources, "source-path", "a sourcePath of the SecretSync's secretObject.data (repeatable)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of the Mount call")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.sourcePaths = sources
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	ns, pod, ok := strings.Cut(controller, "/")
	if !ok || ns == "" || pod == "" {
		problems = append(problems, "--controller must be NAMESPACE/NAME")
	}
	o.controllerNamespace, o.controllerPod = ns, pod
	for flagName, v := range map[string]string{"--kubeconfig": o.kubeconfig, "--provider-dir": o.providerDir,
		"--namespace": o.namespace, "--name": o.name, "--sa": o.serviceAccount, "--class": o.class} {
		if v == "" {
			problems = append(problems, flagName+" is required")
		}
	}
	if o.timeout <= 0 {
		problems = append(problems, "--timeout must be positive")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}
