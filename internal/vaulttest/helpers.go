package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// StartT starts a dev server for one test and stops it in t.Cleanup, with
// its log in the test's temp dir. Without a vault binary the test is
// skipped, unless CI=true, where a missing binary is a failure.
func StartT(t testing.TB) *Server {
	t.Helper()
	bin := binaryT(t)
	s, err := Start(context.Background(), bin, filepath.Join(t.TempDir(), "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping vault: %v", err)
		}
	})
	return s
}

// binaryT returns the vault binary, or skips the test without one (fails
// it in CI).
func binaryT(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("vault binary required in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return bin
}

// Write writes data at path with the root token.
func (a *Admin) Write(ctx context.Context, path string, data map[string]any) (*api.Secret, error) {
	secret, err := a.client.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: write %s: %w", path, err)
	}
	return secret, nil
}

// Mount enables a secrets engine of type typ at path, with options such as
// {"version": "1"} for KV version 1.
func (a *Admin) Mount(ctx context.Context, path, typ string, options map[string]string) error {
	err := a.client.Sys().MountWithContext(ctx, path, &api.MountInput{Type: typ, Options: options})
	if err != nil {
		return fmt.Errorf("vaulttest: mount %s at %s: %w", typ, path, err)
	}
	return nil
}

// EnableAuth enables an auth method of type typ at path.
func (a *Admin) EnableAuth(ctx context.Context, path, typ string) error {
	err := a.client.Sys().EnableAuthWithOptionsWithContext(ctx, path, &api.EnableAuthOptions{Type: typ})
	if err != nil {
		return fmt.Errorf("vaulttest: enable %s auth at %s: %w", typ, path, err)
	}
	return nil
}

// WritePolicy creates or replaces the ACL policy name.
func (a *Admin) WritePolicy(ctx context.Context, name, hcl string) error {
	if err := a.client.Sys().PutPolicyWithContext(ctx, name, hcl); err != nil {
		return fmt.Errorf("vaulttest: policy %s: %w", name, err)
	}
	return nil
}

// ConfigureJWTAuth enables jwt auth at mount and makes it trust tokens
// signed by issuer.
func (a *Admin) ConfigureJWTAuth(ctx context.Context, mount string, issuer *JWTIssuer) error {
	if issuer == nil {
		return errors.New("vaulttest: ConfigureJWTAuth: nil issuer")
	}
	if err := a.EnableAuth(ctx, mount, "jwt"); err != nil {
		return err
	}
	_, err := a.Write(ctx, "auth/"+mount+"/config", map[string]any{
		"jwt_validation_pubkeys": []string{issuer.PublicKeyPEM()},
		"bound_issuer":           issuer.Issuer,
	})
	return err
}

// WriteJWTRole creates role at the jwt auth mount for one Kubernetes
// service account: tokens for the audience "vault" whose subject is
// system:serviceaccount:namespace:serviceAccount log in, and get Vault tokens
// valid for ttl with policies.
func (a *Admin) WriteJWTRole(ctx context.Context, mount, role, namespace, serviceAccount string, ttl time.Duration, policies ...string) error {
	data := map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"vault"},
		"bound_subject":   "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"user_claim":      "sub",
		"token_ttl":       ttl.String(),
	}
	if len(policies) > 0 {
		data["token_policies"] = policies
	}
	_, err := a.Write(ctx, "auth/"+mount+"/role/"+role, data)
	return err
}
