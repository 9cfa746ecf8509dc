package main

import (
	"context"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// seed writes the demo secret, a read policy and a jwt role bound to the
// demo service account, and returns the issuer that signs its tokens.
func seed(ctx context.Context, v *vaulttest.Server) (*vaulttest.JWTIssuer, error) {
	if _, err := v.Write(ctx, "secret/data/demo/db", map[string]any{
		"data": map[string]any{"username": "app", "password": "demo-password-123"},
	}); err != nil {
		return nil, err
	}
	if err := v.WritePolicy(ctx, "demo-read", `path "secret/data/demo/*" { capabilities = ["read"] }`); err != nil {
		return nil, err
	}
	issuer, err := vaulttest.NewJWTIssuer("https://kubernetes.default.svc.cluster.local")
	if err != nil {
		return nil, err
	}
	if err := v.ConfigureJWTAuth(ctx, "jwt", issuer); err != nil {
		return nil, err
	}
	if err := v.WriteJWTRole(ctx, "jwt", role, namespace, serviceAccount, time.Hour, "demo-read"); err != nil {
		return nil, err
	}
	return issuer, nil
}
