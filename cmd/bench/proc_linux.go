package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// rssMiB reads VmRSS of pid from /proc/PID/status.
func rssMiB(pid int) (float64, error) { return statusMiB(pid, "VmRSS") }

// hwmMiB reads VmHWM of pid, its peak RSS, from /proc/PID/status.
func hwmMiB(pid int) (float64, error) { return statusMiB(pid, "VmHWM") }

func statusMiB(pid int, field string) (float64, error) {
	v, err := procField(fmt.Sprintf("/proc/%d/status", pid), field)
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", field, v, err)
	}
	return kb / 1024, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	v, err := procField("/proc/cpuinfo", "model name")
	if err != nil {
		return "unknown"
	}
	return v
}

// procField returns the value of the first "key: value" line of file.
func procField(file, key string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no %s", file, key)
}
