//go:build unix && !linux

package main

import "errors"

func rssMiB(int) (float64, error) { return 0, errors.New("RSS needs /proc") }

func hwmMiB(int) (float64, error) { return 0, errors.New("RSS needs /proc") }

func cpuModel() string { return "unknown" }
