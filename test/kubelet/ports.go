package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// printFreePorts prints n distinct loopback TCP ports that were free a moment
// ago: each is bound with port 0, read back, and released together at the end,
// so the kernel cannot hand out the same one twice.
func printFreePorts(args []string, stdout io.Writer) error {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 64 {
			return fmt.Errorf("ports: %q: give a count from 1 to 64", args[0])
		}
		n = v
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("ports: %w", err)
		}
		listeners = append(listeners, l)
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
