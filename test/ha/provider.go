package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// logins reads the provider's successful Vault logins from its metrics.
func logins(ctx context.Context, metricsURL string) (float64, error) {
	return counter(ctx, metricsURL, "vault_csi_provider_logins_total", "result", "ok")
}

// counter sums the provider's counter name over the series whose label
// has value.
func counter(ctx context.Context, metricsURL, name, label, value string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	total := 0.0
	for _, m := range families[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}
