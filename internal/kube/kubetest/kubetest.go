// Package kubetest lets tests drive the provider's Kubernetes-facing code
// with client-go's fake clientset: it adapts a clientset to the calls
// internal/kube's Client makes. Only tests import it, so the daemon does
// not link the clientset.
package kubetest

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Clientset serves the Client calls from a clientset, usually
// k8s.io/client-go/kubernetes/fake's.
type Clientset struct {
	kubernetes.Interface
}

// CreateToken creates a token through the clientset.
func (c Clientset) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return c.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
}

// GetSecret reads a Secret through the clientset.
func (c Clientset) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return c.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// CreateSecret creates a Secret through the clientset.
func (c Clientset) CreateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	return c.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
}

// GetPod reads a pod through the clientset.
func (c Clientset) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// PodsOnNode lists and watches pods with the node's field selector. The
// fake clientset ignores field selectors, so tests see every pod. It cannot
// stream a list through a watch (client-go's WatchListClient, on by default
// since v0.35): wrapped as client-go's own informers do, the reflector
// learns that from the clientset and lists, then watches.
func (c Clientset) PodsOnNode(node string) cache.ListerWatcher {
	selector := fields.OneTermEqualSelector("spec.nodeName", node).String()
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return c.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, c.Interface)
}
