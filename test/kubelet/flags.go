package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// common holds what every command needs to reach the API server.
type common struct {
	kubeconfig string
	namespace  string
	pod        string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server (env KUBECONFIG)")
}

// volumeFlags locate a pod's volume on the node.
type volumeFlags struct {
	volume      string
	target      string
	podsDir     string
	hostPodsDir string
}

func (v *volumeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.volume, "volume", "secrets", "name of the volume in the pod's spec")
	fs.StringVar(&v.target, "target", "", "target directory of the volume (default: kubelet's, under --pods-dir)")
	fs.StringVar(&v.podsDir, "pods-dir", os.Getenv("KUBELET_PODS_DIR"), "kubelet's pods directory (env KUBELET_PODS_DIR)")
	fs.StringVar(&v.hostPodsDir, "host-pods-dir", os.Getenv("KUBELET_HOST_PODS_DIR"),
		"where this process sees --pods-dir when the driver runs in another mount namespace, e.g. a kind node (env KUBELET_HOST_PODS_DIR)")
}

func (v *volumeFlags) check() []string {
	if v.target == "" && v.podsDir == "" {
		return []string{"--target or --pods-dir (or KUBELET_PODS_DIR) is required"}
	}
	return nil
}

// setPod splits NS/NAME.
func (c *common) setPod(v string) error {
	ns, name, ok := strings.Cut(v, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("--pod %q: use NAMESPACE/NAME", v)
	}
	c.namespace, c.pod = ns, name
	return nil
}

// volumeCommand is what publish and unpublish share: the pod, its volume
// on the node and the driver's socket.
type volumeCommand struct {
	common
	volumeFlags
	csiEndpoint string
}

// register adds the shared flags; --pod goes to *pod for problems.
func (v *volumeCommand) register(fs *flag.FlagSet, pod *string, podUsage string) {
	v.common.register(fs)
	v.volumeFlags.register(fs)
	fs.StringVar(pod, "pod", "", podUsage)
	fs.StringVar(&v.csiEndpoint, "csi-endpoint", os.Getenv("CSI_ENDPOINT"), "the driver's CSI socket (env CSI_ENDPOINT)")
}

// problems checks the shared flags once fs is parsed.
func (v *volumeCommand) problems(fs *flag.FlagSet, pod string) []string {
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if err := v.setPod(pod); err != nil {
		problems = append(problems, err.Error())
	}
	problems = append(problems, v.volumeFlags.check()...)
	if v.csiEndpoint == "" {
		problems = append(problems, "--csi-endpoint (or CSI_ENDPOINT) is required")
	}
	return problems
}

type publishOptions struct {
	volumeCommand
	serviceAccount string
	nodeName       string
	// volumeContext is what --volume-context adds to (or overrides in) the
	// context kubelet would send.
	volumeContext map[string]string
	// podVolumes are extra inline volumes (name → SecretProviderClass) put in
	// the Pod's spec when the Pod is created.
	podVolumes map[string]string
	audiences  []string
	noToken    bool
	rotation   bool
	timeout    time.Duration
}

// keyValues is a repeatable K=V flag.
type keyValues map[string]string

func (kv keyValues) String() string { return fmt.Sprint(map[string]string(kv)) }

func (kv keyValues) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: use KEY=VALUE", v)
	}
	kv[k] = val
	return nil
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func parsePublish(args []string, stderr io.Writer) (*publishOptions, error) {
	o := &publishOptions{volumeContext: map[string]string{}, podVolumes: map[string]string{}}
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pod string
	var audiences list
	o.volumeCommand.register(fs, &pod, "the pod, NAMESPACE/NAME; created (Pending) if missing")
	fs.StringVar(&o.serviceAccount, "sa", "default", "the pod's service account")
	fs.StringVar(&o.nodeName, "node-name", envOr("NODE_NAME", "e2e-node"), "spec.nodeName of a created pod (env NODE_NAME)")
	fs.Var(keyValues(o.volumeContext), "volume-context", "K=V added to the volume context, repeatable (secretProviderClass=CLASS)")
	fs.Var(keyValues(o.podVolumes), "pod-volume", "NAME=CLASS: another inline volume in a created pod's spec, repeatable")
	fs.Var(&audiences, "audience", "audience of a token sent in csi.storage.k8s.io/serviceAccount.tokens, repeatable (default vault)")
	fs.BoolVar(&o.noToken, "no-token", false, "send no service-account token, as without tokenRequests on the CSIDriver")
	fs.BoolVar(&o.rotation, "rotation", false, "a republish (requiresRepublish): the pod must exist and the target be mounted")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "deadline of the NodePublishVolume call (kubelet's is 2m)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	problems := o.volumeCommand.problems(fs, pod)
	if o.volumeContext[secretProviderClassKey] == "" {
		problems = append(problems, "--volume-context secretProviderClass=CLASS is required")
	}
	if _, clash := o.podVolumes[o.volume]; clash {
		problems = append(problems, fmt.Sprintf("--pod-volume %s: that is the published volume", o.volume))
	}
	o.audiences = audiences
	if len(o.audiences) == 0 {
		o.audiences = []string{"vault"}
	}
	if o.noToken && len(audiences) > 0 {
		problems = append(problems, "--no-token and --audience exclude each other")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("publish: %s", strings.Join(problems, "; "))
	}
	return o, nil
}

type unpublishOptions struct {
	volumeCommand
	deletePod bool
	timeout   time.Duration
}

func parseUnpublish(args []string, stderr io.Writer) (*unpublishOptions, error) {
	o := &unpublishOptions{}
	fs := flag.NewFlagSet("unpublish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pod string
	o.volumeCommand.register(fs, &pod, "the pod, NAMESPACE/NAME (gives the volume ID)")
	fs.BoolVar(&o.deletePod, "delete-pod", false, "delete the Pod as a user and kubelet would: graceful delete, unmount, final delete")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "deadline of the NodeUnpublishVolume call")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	problems := o.volumeCommand.problems(fs, pod)
	if len(problems) > 0 {
		return nil, fmt.Errorf("unpublish: %s", strings.Join(problems, "; "))
	}
	return o, nil
}

type tokenOptions struct {
	common
	serviceAccount string
	audience       string
}

func parseToken(args []string, stderr io.Writer) (*tokenOptions, error) {
	o := &tokenOptions{}
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.register(fs)
	var pod string
	fs.StringVar(&pod, "pod", "", "the existing pod the token is bound to, NAMESPACE/NAME")
	fs.StringVar(&o.serviceAccount, "sa", "default", "the pod's service account")
	fs.StringVar(&o.audience, "audience", "vault", "the token's audience")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := o.setPod(pod); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return o, nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

type targetOptions struct {
	common
	volumeFlags
}

func parseTarget(args []string, stderr io.Writer) (*targetOptions, error) {
	o := &targetOptions{}
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.common.register(fs)
	o.volumeFlags.register(fs)
	var pod string
	fs.StringVar(&pod, "pod", "", "the existing pod, NAMESPACE/NAME")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	problems := o.volumeFlags.check()
	if err := o.setPod(pod); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("target: %s", strings.Join(problems, "; "))
	}
	return o, nil
}
