//go:build tools

// Package tools pins containerd for the one-node cluster (test/node): the
// Makefile builds cmd/containerd, cmd/containerd-shim-runc-v2 and cmd/ctr
// from this directory. runc itself is Debian's package.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
