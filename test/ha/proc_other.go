//go:build !linux

package main

import "syscall"

// childAttr: only Linux can tie a child's life to the harness; elsewhere
// the harness stops its children by PID on its way out.
func childAttr() *syscall.SysProcAttr { return nil }
