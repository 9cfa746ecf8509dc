//go:build tools

// Package tools pins the Vault server used by the integration tests; it is
// built with `go build github.com/hashicorp/vault` from this directory.
package tools

import _ "github.com/hashicorp/vault"
