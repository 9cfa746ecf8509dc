package main

import (
	"context"
	"os/exec"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
)

// provider is the provider binary running as a child on a temporary
// socket, reached with the driver's gRPC client, with a scraper of its
// metrics.
type provider struct {
	*csitest.Provider
	metrics *scraper
}

// hasFlag reports whether the binary's usage (-h) lists -name.
func hasFlag(bin, name string) bool {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "-"+name {
			return true
		}
	}
	return false
}

// startProvider runs bin in dir against vaultAddr (see
// csitest.StartProvider); with withMetrics, metrics are served on a free
// loopback port.
func startProvider(ctx context.Context, bin, dir, vaultAddr string, withMetrics bool, extra ...string) (*provider, error) {
	p, err := csitest.StartProvider(ctx, bin, dir, vaultAddr, withMetrics, extra...)
	if err != nil {
		return nil, err
	}
	return &provider{Provider: p, metrics: newScraper(p.MetricsURL)}, nil
}
