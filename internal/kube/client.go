// Package kube builds the Kubernetes client the provider uses for the
// TokenRequest fallback and the HMAC key Secret.
package kube

import (
	"errors"
	"fmt"
	"net/http"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// NewClient returns a client from kubeconfig, or from the in-cluster
// configuration when kubeconfig is empty. Outside a cluster without a
// kubeconfig it returns nil and no error: the provider then runs without
// Kubernetes (driver-supplied tokens only, in-memory HMAC key).
func NewClient(kubeconfig, userAgent string, m *metrics.Metrics) (kubernetes.Interface, error) {
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
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}
