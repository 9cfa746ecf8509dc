//go:build unix && !linux

package main

import (
	"errors"
	"syscall"
)

func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

func rssMiB(int) (float64, error) { return 0, errors.New("RSS needs /proc") }

func cpuModel() string { return "unknown" }
