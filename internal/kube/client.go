// Package kube is the provider's Kubernetes client: the TokenRequest
// fallback, the HMAC key Secret, the pod watch, the namespaces' labels for
// the node policy and the offline check's pod lookup.
//
// It is a REST client for core/v1 that knows only the types those calls
// use, rather than client-go's clientset: the clientset links in and
// registers every API group, which about doubled the daemon's binary and its
// resident memory before the first mount.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// Client makes the provider's few Kubernetes calls. Errors from the API
// server are *errors.StatusError, so apierrors.IsNotFound and friends work.
type Client struct {
	rest   rest.Interface
	params runtime.ParameterCodec
}

// NewClient returns a client from kubeconfig, or from the in-cluster
// configuration when kubeconfig is empty. Outside a cluster without a
// kubeconfig it returns nil and no error: the provider then runs without
// Kubernetes (driver-supplied tokens only, in-memory HMAC key).
func NewClient(kubeconfig, userAgent string, m *metrics.Metrics) (*Client, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.UserAgent = userAgent
	// A node restart logs in every pod at once; client-go's default of
	// 5 requests/s would queue the TokenRequests behind each other.
	cfg.QPS, cfg.Burst = 50, 100
	if m != nil {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting{next: rt, metrics: m} })
	}
	return newForConfig(cfg)
}

func newForConfig(cfg *rest.Config) (*Client, error) {
	scheme := runtime.NewScheme()
	// core/v1 also registers the meta types (Status, ListOptions,
	// WatchEvent) under its group version; the token subresource speaks
	// authentication/v1.
	if err := errors.Join(corev1.AddToScheme(scheme), authenticationv1.AddToScheme(scheme)); err != nil {
		return nil, fmt.Errorf("kubernetes client scheme: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.ContentType == "" {
		cfg.ContentType = runtime.ContentTypeJSON
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{rest: rc, params: runtime.NewParameterCodec(scheme)}, nil
}

// CreateToken asks for a token of the service account (the TokenRequest
// API).
func (c *Client) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	out := &authenticationv1.TokenRequest{}
	err := c.rest.Post().Namespace(namespace).Resource("serviceaccounts").Name(serviceAccount).SubResource("token").
		Body(req).Do(ctx).Into(out)
	return out, err
}

// GetSecret reads a Secret.
func (c *Client) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	err := c.rest.Get().Namespace(namespace).Resource("secrets").Name(name).Do(ctx).Into(out)
	return out, err
}

// CreateSecret creates s in its namespace.
func (c *Client) CreateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	err := c.rest.Post().Namespace(s.Namespace).Resource("secrets").Body(s).Do(ctx).Into(out)
	return out, err
}

// GetPod reads a pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	err := c.rest.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(out)
	return out, err
}

// PodsOnNode lists and watches the pods of every namespace scheduled to
// node, for an informer.
func (c *Client) PodsOnNode(node string) cache.ListerWatcher {
	selector := fields.OneTermEqualSelector("spec.nodeName", node).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			out := &corev1.PodList{}
			err := c.rest.Get().Resource("pods").VersionedParams(&o, c.params).Do(ctx).Into(out)
			return out, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector, o.Watch = selector, true
			return c.rest.Get().Resource("pods").VersionedParams(&o, c.params).Watch(ctx)
		},
	}
}

// Namespaces lists and watches every namespace, for an informer of their
// labels.
func (c *Client) Namespaces() cache.ListerWatcher {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			out := &corev1.NamespaceList{}
			err := c.rest.Get().Resource("namespaces").VersionedParams(&o, c.params).Do(ctx).Into(out)
			return out, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			return c.rest.Get().Resource("namespaces").VersionedParams(&o, c.params).Watch(ctx)
		},
	}
}
