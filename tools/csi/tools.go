//go:build tools

// Package tools pins the Secrets Store CSI driver used by the end-to-end
// tests (test/e2e); it is built with
// `go build sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver`
// from this directory.
package tools

import _ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
