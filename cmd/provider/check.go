package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube"
	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// runCheck runs one mount of a SecretProviderClass outside the cluster's
// driver, with the same code as the daemon, and writes or lists the files.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c, err := config.ParseCheck(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, c.LogLevel, "text")
	if err != nil {
		return err
	}
	spc, err := readSPC(c.SPCFile)
	if err != nil {
		return err
	}
	// Interfaces that stay nil without a kubeconfig, never holding a nil
	// *kube.Client.
	var (
		pods   podGetter
		tokens auth.TokenCreator
	)
	if c.Kubeconfig != "" && !c.PolicyOnly() {
		kc, err := kube.NewClient(c.Kubeconfig, "vault-csi-provider-check/"+version, nil)
		if err != nil {
			return err
		}
		pods, tokens = kc, kc
	}
	pod, err := checkPod(ctx, c, spc, pods)
	if err != nil {
		return err
	}
	attrs, err := checkAttributes(c, spc, pod)
	if err != nil {
		return err
	}
	clients, err := vault.NewClients(1, vault.DefaultRetryPolicy())
	if err != nil {
		return err
	}
	// The check runs with its user's own credentials, for the one class
	// given: it requests that class's audience, as the user could anyway.
	audience := cmp.Or(attrs["audience"], c.Defaults.Audience)
	authn, err := auth.NewAuthenticator(1, auth.NewTokenRequester(tokens, tokenTTL, auth.AudiencePolicy{Allowed: []string{audience}}), nil)
	if err != nil {
		return err
	}
	// Versions computed here use a throwaway key: they are for comparing
	// objects within this run, not with the cluster's.
	keys, err := hmackey.Ephemeral()
	if err != nil {
		return err
	}
	opts := mount.Options{Defaults: c.Defaults, Clients: clients, Auth: authn, Keys: keys, Concurrency: 8, Version: version, Logger: log}
	if c.PolicyFile != "" {
		pf, err := policy.Open(c.PolicyFile)
		if err != nil {
			return err
		}
		opts.Policy, opts.NamespaceLabels = pf, fixedLabels(c.NamespaceLabels)
	}
	svc, err := mount.NewService(opts)
	if err != nil {
		return err
	}
	if c.PolicyOnly() {
		rule, err := svc.PolicyRule(ctx, attrs, c.NamespaceLabels)
		if err != nil {
			return fmt.Errorf("policy check failed (%s): %w", mount.Code(ctx, err), err)
		}
		fmt.Fprintf(stdout, "allowed by the node policy's %s for namespace %s (no mount: give -token-file, or -kubeconfig and -pod-name, to mount)\n",
			ruleName(rule), pod.Namespace)
		return nil
	}
	log.Debug("mounting", "secret_provider_class", spc.Metadata.Name, "pod", pod.Namespace+"/"+pod.Name)
	res, err := svc.MountAttributes(ctx, attrs, checkFileMode)
	if err != nil {
		return fmt.Errorf("mount failed (%s): %w", mount.Code(ctx, err), err)
	}
	if c.DryRun {
		return printSummary(stdout, res)
	}
	if err := writeFiles(c.OutDir, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d files written to %s\n", len(res.Files), c.OutDir)
	return nil
}

// fixedLabels are the namespace's labels given with -namespace-labels.
type fixedLabels map[string]string

func (l fixedLabels) Labels(context.Context, string) (map[string]string, error) { return l, nil }

// ruleName shows the rule that applies as the policy's messages do.
func ruleName(rule string) string {
	if rule == policy.DefaultRule {
		return "default rule"
	}
	return "rule " + strconv.Quote(rule)
}

// podGetter reads a pod (internal/kube's Client).
type podGetter interface {
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// checkPod fills in the pod identity, reading UID and service account from
// the API when a kubeconfig is given.
func checkPod(ctx context.Context, c *config.Check, spc *secretProviderClass, pods podGetter) (auth.Pod, error) {
	pod := auth.Pod{Name: c.PodName, Namespace: c.PodNamespace, UID: c.PodUID, ServiceAccount: c.ServiceAccount}
	if pod.Namespace == "" {
		pod.Namespace = spc.Metadata.Namespace
	}
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	if pods != nil && pod.Name != "" && (pod.UID == "" || pod.ServiceAccount == "") {
		p, err := pods.GetPod(ctx, pod.Namespace, pod.Name)
		if err != nil {
			return pod, fmt.Errorf("read pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		if pod.UID == "" {
			pod.UID = string(p.UID)
		}
		if pod.ServiceAccount == "" {
			pod.ServiceAccount = p.Spec.ServiceAccountName
		}
	}
	if pod.Name == "" {
		pod.Name = "offline-check"
	}
	if pod.UID == "" {
		pod.UID = "offline-check"
	}
	if pod.ServiceAccount == "" {
		pod.ServiceAccount = "default"
	}
	return pod, nil
}

// checkAttributes builds what the driver would send: the class's
// parameters, the pod keys and, with -token-file, the token for the
// audience.
func checkAttributes(c *config.Check, spc *secretProviderClass, pod auth.Pod) (map[string]string, error) {
	attrs := map[string]string{}
	for k, v := range spc.Spec.Parameters {
		attrs[k] = v
	}
	attrs["csi.storage.k8s.io/pod.name"] = pod.Name
	attrs["csi.storage.k8s.io/pod.namespace"] = pod.Namespace
	attrs["csi.storage.k8s.io/pod.uid"] = pod.UID
	attrs["csi.storage.k8s.io/serviceAccount.name"] = pod.ServiceAccount
	if c.TokenFile == "" {
		return attrs, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	audience := attrs["audience"]
	if audience == "" {
		audience = c.Defaults.Audience
	}
	tokens, err := json.Marshal(map[string]map[string]string{audience: {"token": strings.TrimSpace(string(b))}})
	if err != nil {
		return nil, err
	}
	attrs["csi.storage.k8s.io/serviceAccount.tokens"] = string(tokens)
	return attrs, nil
}

// printSummary lists the files without their contents: which object made
// each, its mode, size and version, and the objects that made none.
func printSummary(w io.Writer, res *mount.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tFILE\tMODE\tBYTES\tVERSION")
	for _, f := range res.Files {
		fmt.Fprintf(tw, "%s\t%s\t%#o\t%d\t%.12s\n", f.Object, f.Path, f.Mode, len(f.Contents), f.Version)
	}
	for _, u := range res.Unwritten {
		fmt.Fprintf(tw, "%s\t-\t-\t-\t(%s)\n", u.Object, u.Reason)
	}
	return tw.Flush()
}
