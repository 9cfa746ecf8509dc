//go:build tools

// Package tools pins the Helm CLI used by `make deploy-check` to lint and
// render the chart in deployment/helm; it is built with
// `go build helm.sh/helm/v3/cmd/helm` from this directory.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
