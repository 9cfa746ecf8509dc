package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// tokenSeconds is the lifetime the controller asks its TokenRequests for.
const tokenSeconds = 600

// controllerServiceAccount is the ServiceAccount the controller's chart
// runs its pod as; it must exist in the controller's namespace.
const controllerServiceAccount = "secrets-store-sync-controller-manager"

// class is what the controller reads of a SecretProviderClass.
type class struct {
	Spec struct {
		Provider   string            `json:"provider"`
		Parameters map[string]string `json:"parameters"`
	} `json:"spec"`
}

// syncOnce makes the controller's Mount for one SecretSync and prints and
// checks its answer.
func syncOnce(ctx context.Context, o *syncOptions, out io.Writer) error {
	kc, err := newClient(o.kubeconfig)
	if err != nil {
		return err
	}
	pod, err := controllerPod(ctx, kc, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "controller pod %s/%s uid=%s\n", pod.Namespace, pod.Name, pod.UID)
	c, err := readClass(ctx, kc, o.namespace, o.class)
	if err != nil {
		return err
	}
	tokens, err := requestTokens(ctx, kc, o)
	if err != nil {
		return err
	}
	req, err := csitest.SyncRequest{ControllerPodName: pod.Name, ControllerPodUID: string(pod.UID),
		Namespace: o.namespace, ServiceAccount: o.serviceAccount, Params: c.Spec.Parameters, Tokens: tokens}.Build()
	if err != nil {
		return err
	}
	if err := printAttributes(out, req); err != nil {
		return err
	}
	resp, err := mount(ctx, filepath.Join(o.providerDir, c.Spec.Provider+".sock"), req, o.timeout)
	if err != nil {
		return err
	}
	return check(out, resp, o.sourcePaths)
}

func newClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "e2e-sync-controller"
	return kubernetes.NewForConfig(cfg)
}

// controllerPod reads the controller's own pod, creating it (it stays
// Pending) on the node when it does not exist.
func controllerPod(ctx context.Context, kc kubernetes.Interface, o *syncOptions) (*corev1.Pod, error) {
	pods := kc.CoreV1().Pods(o.controllerNamespace)
	pod, err := pods.Get(ctx, o.controllerPod, metav1.GetOptions{})
	if err == nil {
		return pod, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get the controller's pod %s/%s: %w", o.controllerNamespace, o.controllerPod, err)
	}
	if o.nodeName == "" {
		return nil, fmt.Errorf("the controller's pod %s/%s does not exist; set --node-name to create it", o.controllerNamespace, o.controllerPod)
	}
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: o.controllerPod, Namespace: o.controllerNamespace,
			Labels: map[string]string{"app": "secrets-store-sync-controller"}},
		Spec: corev1.PodSpec{NodeName: o.nodeName, ServiceAccountName: controllerServiceAccount, Containers: []corev1.Container{
			{Name: "manager", Image: "registry.invalid/e2e/sync-controller:0.0.4"},
			{Name: "provider-vault", Image: "registry.invalid/e2e/vault-csi-provider:e2e"},
		}},
	}
	pod, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create the controller's pod %s/%s: %w", o.controllerNamespace, o.controllerPod, err)
	}
	return pod, nil
}

// readClass reads the SecretProviderClass as the controller does, from
// the SecretSync's namespace.
func readClass(ctx context.Context, kc kubernetes.Interface, namespace, name string) (*class, error) {
	raw, err := kc.Discovery().RESTClient().Get().
		AbsPath("/apis/secrets-store.csi.x-k8s.io/v1/namespaces", namespace, "secretproviderclasses", name).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("get SecretProviderClass %s/%s: %w", namespace, name, err)
	}
	c := &class{}
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("SecretProviderClass %s/%s: %w", namespace, name, err)
	}
	if c.Spec.Provider == "" {
		return nil, fmt.Errorf("SecretProviderClass %s/%s names no provider", namespace, name)
	}
	return c, nil
}

// requestTokens asks for the SecretSync's service-account token for the
// controller's audience: 600 s, bound to no object. None without an
// audience.
func requestTokens(ctx context.Context, kc kubernetes.Interface, o *syncOptions) (map[string]csitest.Token, error) {
	if o.audience == "" {
		return nil, nil
	}
	seconds := int64(tokenSeconds)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{o.audience}, ExpirationSeconds: &seconds,
	}}
	got, err := kc.CoreV1().ServiceAccounts(o.namespace).CreateToken(ctx, o.serviceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token request for %s/%s (audience %q): %w", o.namespace, o.serviceAccount, o.audience, err)
	}
	return map[string]csitest.Token{o.audience: {Token: got.Status.Token, Expiration: got.Status.ExpirationTimestamp.Time}}, nil
}

// printAttributes prints the request's attribute names and the values of
// the pod's keys, the tokens as their audiences and lifetime only.
func printAttributes(out io.Writer, req *pb.MountRequest) error {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(req.Attributes), &attrs); err != nil {
		return err
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(out, "attributes %v\n", keys)
	for _, k := range []string{spc.KeyPodName, spc.KeyPodUID, spc.KeyPodNamespace, spc.KeyServiceAccount} {
		fmt.Fprintf(out, "attribute %s=%s\n", k, attrs[k])
	}
	if js, ok := attrs[spc.KeyDriverTokens]; ok {
		var tokens map[string]struct {
			Expiration time.Time `json:"expirationTimestamp"`
		}
		if err := json.Unmarshal([]byte(js), &tokens); err != nil {
			return fmt.Errorf("tokens attribute: %w", err)
		}
		for aud, t := range tokens {
			fmt.Fprintf(out, "token audience=%s expires_in=%ds\n", aud, int(time.Until(t.Expiration).Round(10*time.Second).Seconds()))
		}
	}
	fmt.Fprintf(out, "request secrets=%s permission=%s target=%s current_object_versions=%d\n",
		req.Secrets, req.Permission, req.TargetPath, len(req.CurrentObjectVersion))
	return nil
}

// mount calls the provider on its socket, as the controller does.
func mount(ctx context.Context, socket string, req *pb.MountRequest, timeout time.Duration) (*pb.MountResponse, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("provider socket %s: %w", socket, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := pb.NewCSIDriverProviderClient(conn).Mount(ctx, req)
	if err != nil {
		s := status.Convert(err)
		return nil, fmt.Errorf("mount failed: code = %s desc = %s", s.Code(), s.Message())
	}
	if resp.GetError() != nil && resp.GetError().GetCode() != "" {
		return nil, fmt.Errorf("mount failed with provider error code %s", resp.GetError().GetCode())
	}
	return resp, nil
}

// errNoVersions is the controller's refusal of an answer without object
// versions.
var errNoVersions = errors.New("the provider returned no object versions")

// check prints the files (digests only) and versions, and checks the
// answer as the controller would use it.
func check(out io.Writer, resp *pb.MountResponse, sourcePaths []string) error {
	if len(resp.GetObjectVersion()) == 0 {
		return errNoVersions
	}
	files := map[string][]byte{}
	for _, f := range resp.GetFiles() {
		files[f.GetPath()] = f.GetContents()
		fmt.Fprintf(out, "file %s bytes=%d sha256=%x\n", f.GetPath(), len(f.GetContents()), sha256.Sum256(f.GetContents()))
	}
	for _, v := range resp.GetObjectVersion() {
		if v.GetVersion() == "" {
			return fmt.Errorf("object %q has an empty version", v.GetId())
		}
		fmt.Fprintf(out, "version %s=%s\n", v.GetId(), v.GetVersion())
	}
	var problems []error
	for _, p := range sourcePaths {
		content, ok := files[p]
		switch {
		case !spc.Syncable(p): // the SecretSync CRD's pattern
			problems = append(problems, fmt.Errorf("sourcePath %q: the SecretSync CRD refuses it (a flat name with numeric /N suffixes only)", p))
		case !ok:
			problems = append(problems, fmt.Errorf("sourcePath %q: no returned file has this path", p))
		default:
			fmt.Fprintf(out, "source %s sha256=%x\n", p, sha256.Sum256(content))
		}
	}
	return errors.Join(problems...)
}
