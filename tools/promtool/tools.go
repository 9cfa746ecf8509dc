//go:build tools

// Package tools pins promtool, used by `make deploy-check` to check the
// alert rules in deployment/helm/vault-csi-provider/files and run their unit
// tests; it is built with `go build github.com/prometheus/prometheus/cmd/promtool`
// from this directory (with -tags remove_all_sd, see the Makefile).
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
