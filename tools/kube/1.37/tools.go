//go:build tools

// Package tools pins the Kubernetes 1.37 control plane of the end-to-end tests
// (test/e2e): the Makefile builds k8s.io/kubernetes/cmd/kube-apiserver and
// cmd/kube-controller-manager from this directory. Written by ../new-version.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
