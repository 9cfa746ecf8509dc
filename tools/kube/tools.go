//go:build tools

// Package tools pins the Kubernetes API server used by the end-to-end tests
// (test/e2e); it is built with
// `go build k8s.io/kubernetes/cmd/kube-apiserver` from this directory.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
