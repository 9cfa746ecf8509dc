package vaulttest

import "syscall"

// sysProcAttr makes the kernel kill the dev server if the test binary dies
// without calling Stop, so no orphaned Vault keeps its port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
