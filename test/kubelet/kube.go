package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	driverName             = "secrets-store.csi.k8s.io"
	secretProviderClassKey = "secretProviderClass"
	// tokenSeconds is how long kubelet asks a pod's tokens to live by default.
	tokenSeconds = 3600
)

func newClient(kubeconfig string) (kubernetes.Interface, error) {
	if kubeconfig == "" {
		return nil, fmt.Errorf("no kubeconfig: set --kubeconfig or KUBECONFIG")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "e2e-kubelet"
	return kubernetes.NewForConfig(cfg)
}

// existingPod reads the pod the flags name, with a client for their
// kubeconfig.
func (c *common) existingPod(ctx context.Context) (kubernetes.Interface, *corev1.Pod, error) {
	client, err := newClient(c.kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	pod, err := client.CoreV1().Pods(c.namespace).Get(ctx, c.pod, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("get pod %s/%s: %w", c.namespace, c.pod, err)
	}
	return client, pod, nil
}

// ensurePod returns the Pod, creating it (it stays Pending) when it does not
// exist. An existing pod must run as the given service account.
func ensurePod(ctx context.Context, c kubernetes.Interface, o *publishOptions, mustExist bool) (*corev1.Pod, error) {
	pods := c.CoreV1().Pods(o.namespace)
	pod, err := pods.Get(ctx, o.pod, metav1.GetOptions{})
	switch {
	case err == nil:
		if pod.Spec.ServiceAccountName != o.serviceAccount {
			return nil, fmt.Errorf("pod %s/%s runs as service account %q, not %q", o.namespace, o.pod, pod.Spec.ServiceAccountName, o.serviceAccount)
		}
		return pod, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get pod %s/%s: %w", o.namespace, o.pod, err)
	case mustExist:
		return nil, fmt.Errorf("--rotation: pod %s/%s does not exist", o.namespace, o.pod)
	}
	pod, err = pods.Create(ctx, newPod(o), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", o.namespace, o.pod, err)
	}
	return pod, nil
}

// newPod is the Pod a user would write: one container mounting each inline
// volume of the Secrets Store CSI driver read-only.
func newPod(o *publishOptions) *corev1.Pod {
	attrs := map[string]string{}
	for k, v := range o.volumeContext {
		if !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			attrs[k] = v
		}
	}
	volumes := map[string]map[string]string{o.volume: attrs}
	for name, class := range o.podVolumes {
		volumes[name] = map[string]string{secretProviderClassKey: class}
	}
	readOnly := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: o.pod, Namespace: o.namespace, Labels: map[string]string{"app": "e2e"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: o.serviceAccount,
			NodeName:           o.nodeName,
			Containers:         []corev1.Container{{Name: "app", Image: "registry.invalid/e2e/app:1"}},
		},
	}
	for _, name := range slices.Sorted(maps.Keys(volumes)) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
				Driver: driverName, ReadOnly: &readOnly, VolumeAttributes: volumes[name],
			}},
		})
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{
			Name: name, MountPath: "/mnt/" + name, ReadOnly: true,
		})
	}
	return pod
}

// podToken is one audience's entry in csi.storage.k8s.io/serviceAccount.tokens,
// shaped as kubelet writes it.
type podToken struct {
	Token               string    `json:"token"`
	ExpirationTimestamp time.Time `json:"expirationTimestamp"`
}

// requestToken asks the TokenRequest API for a token of the pod's service
// account, bound to the pod, as kubelet does for a CSIDriver's tokenRequests.
func requestToken(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, audience string) (podToken, error) {
	seconds := int64(tokenSeconds)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	got, err := c.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, tr, metav1.CreateOptions{})
	if err != nil {
		return podToken{}, fmt.Errorf("token request for %s/%s (audience %q): %w", pod.Namespace, pod.Spec.ServiceAccountName, audience, err)
	}
	return podToken{Token: got.Status.Token, ExpirationTimestamp: got.Status.ExpirationTimestamp.Time}, nil
}

// tokensJSON is the value of csi.storage.k8s.io/serviceAccount.tokens.
func tokensJSON(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, audiences []string) (string, error) {
	tokens := map[string]podToken{}
	for _, aud := range audiences {
		t, err := requestToken(ctx, c, pod, aud)
		if err != nil {
			return "", err
		}
		tokens[aud] = t
	}
	b, err := json.Marshal(tokens)
	return string(b), err
}
