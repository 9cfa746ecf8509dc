//go:build tools

// Package tools pins staticcheck, built from this module by `make lint`.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
