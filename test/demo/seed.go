package main

import (
	"context"

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
	if _, err := v.Write(ctx, "auth/jwt/role/"+role, map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"vault"},
		"bound_subject":   "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"user_claim":      "sub",
		"token_policies":  []string{"demo-read"},
		"token_ttl":       "1h",
	}); err != nil {
		return nil, err
	}
	return issuer, nil
}
