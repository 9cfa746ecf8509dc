package kube

import "testing"

func TestOperation(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"POST", "/api/v1/namespaces/shop/serviceaccounts/web/token", "POST serviceaccounts/token"},
		{"GET", "/api/v1/namespaces/csi/secrets/vault-csi-provider-hmac-key", "GET secrets"},
		{"POST", "/api/v1/namespaces/csi/secrets", "POST secrets"},
		{"GET", "/api/v1/pods", "GET pods"},
		{"GET", "/apis/secrets-store.csi.x-k8s.io/v1/namespaces/a/secretproviderclasses/b", "GET secretproviderclasses"},
		{"GET", "/version", "GET other"},
	}
	for _, tt := range tests {
		if got := operation(tt.method, tt.path); got != tt.want {
			t.Errorf("operation(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
