//go:build tools

// Package tools pins the CNI plugins of the one-node cluster (test/node): the
// Makefile builds only bridge, host-local and loopback from this directory.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
)
