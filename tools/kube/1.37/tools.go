//go:build tools

// Package tools pins the Kubernetes 1.37 control plane of the end-to-end tests
// (test/e2e): the Makefile builds k8s.io/kubernetes/cmd/kube-apiserver and
// cmd/kube-controller-manager from this directory, and for the one-node
// cluster (test/node) cmd/kubelet and cmd/kube-scheduler, so the four share
// compiled packages. Written by ../new-version.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
