package main

import "syscall"

// childAttr makes the kernel kill a child if the harness dies without
// stopping it, so that no Vault or provider keeps running on its port.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
