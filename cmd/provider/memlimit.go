package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupLimitFiles hold the container's memory limit: cgroup v2, then v1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// softLimitShare is the part of the container's limit the Go heap aims to
// stay under: the rest is the runtime's own, stacks and the binary.
const softLimitShare = 0.8

// setMemoryLimit gives the Go runtime a soft limit of softLimitShare of the
// container's memory limit, unless GOMEMLIMIT says otherwise, so that the
// garbage collector works harder before the kernel kills the provider: the
// accounts cap what mounts hold, and the collector must not let garbage
// double it. It returns the limit set, 0 for none.
func setMemoryLimit(getenv func(string) string, files []string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupLimit(files)
	if limit <= 0 {
		return 0
	}
	soft := int64(float64(limit) * softLimitShare)
	debug.SetMemoryLimit(soft)
	return soft
}

// cgroupLimit reads the first limit found; 0 when there is none ("max", or
// v1's huge number for unlimited).
func cgroupLimit(files []string) int64 {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0
		}
		return n
	}
	return 0
}
