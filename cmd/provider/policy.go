package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
)

// openPolicy reads -policy-file at start: a policy that does not parse
// stops the provider, since serving without it would open what the admin
// meant to close. nil without a file.
func openPolicy(path string, m *metrics.Metrics, log *slog.Logger) (*policy.File, error) {
	if path == "" {
		log.Info("no node policy (-policy-file): every class may name any Vault address, role and path")
		return nil, nil
	}
	pf, err := policy.Open(path)
	if err != nil {
		return nil, err
	}
	m.PolicyFileValid.Set(1)
	log.Info("node policy in force", "file", path, "label_rules", pf.Current().NeedsLabels())
	return pf, nil
}

// watchPolicy reads the policy file every interval until ctx ends. A file
// that no longer parses leaves the last good policy in force, clears
// policy_file_valid (an alert) and is logged once per distinct error.
func watchPolicy(ctx context.Context, pf *policy.File, every time.Duration, m *metrics.Metrics, log *slog.Logger) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		changed, err := pf.Reload()
		switch {
		case err != nil:
			m.PolicyFileValid.Set(0)
			if err.Error() != lastErr {
				lastErr = err.Error()
				m.PolicyReloads.WithLabelValues("error").Inc()
				log.Error("node policy file invalid: the last good policy stays in force", "file", pf.Path(), "error", err)
			}
		case changed:
			lastErr = ""
			m.PolicyFileValid.Set(1)
			m.PolicyReloads.WithLabelValues("ok").Inc()
			log.Info("node policy reloaded", "file", pf.Path(), "label_rules", pf.Current().NeedsLabels())
		default:
			if lastErr != "" {
				// Back to the content in force.
				lastErr = ""
				m.PolicyFileValid.Set(1)
				log.Info("node policy file valid again", "file", pf.Path())
			}
		}
	}
}
