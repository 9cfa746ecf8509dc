package mount_test

import (
	"context"
	"testing"
)

// BenchmarkMountWarm is a republish of a one-object volume: the Vault token
// is cached, so each Mount is one KV read through the real socket and Vault.
func BenchmarkMountWarm(b *testing.B) {
	h := newHarness(b)
	write(b, h.vault, "secret/data/bench", map[string]any{"data": map[string]any{"k": "value"}})
	req := h.request(b, map[string]string{"objects": "- {objectName: k, secretPath: secret/data/bench, secretKey: k}"})
	ctx := context.Background()
	if _, err := h.client.Mount(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.client.Mount(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVaultReadBare is the same KV read with Vault's own client, the
// floor a warm mount is compared with.
func BenchmarkVaultReadBare(b *testing.B) {
	h := newHarness(b)
	write(b, h.vault, "secret/data/bench", map[string]any{"data": map[string]any{"k": "value"}})
	c := h.vault.API()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Logical().ReadWithContext(ctx, "secret/data/bench"); err != nil {
			b.Fatal(err)
		}
	}
}
