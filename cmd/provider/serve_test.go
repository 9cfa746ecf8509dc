package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// mountWithoutKubernetes builds the daemon's service from flags (with a
// Vault nobody listens at) and mounts objects for a pod; no driver token is
// sent.
func mountWithoutKubernetes(t *testing.T, flags []string, objects string) error {
	t.Helper()
	cfg, err := config.ParseServe(append([]string{"-vault-addr", "http://127.0.0.1:1"}, flags...), envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := newService(context.Background(), cfg, nil, nil, metrics.NewUnregistered(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.MountAttributes(context.Background(), map[string]string{
		"roleName": "r", "objects": objects,
		"csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/pod.namespace": "n",
		"csi.storage.k8s.io/pod.uid": "u", "csi.storage.k8s.io/serviceAccount.name": "sa",
	}, 0o644)
	return err
}

// TestServiceWithoutKubernetes: without a Kubernetes client, a mount whose
// pod token the driver did not pass fails with ErrNoKubernetes and its
// advice, rather than calling through a nil client.
func TestServiceWithoutKubernetes(t *testing.T) {
	err := mountWithoutKubernetes(t, []string{"-vault-mount", "jwt"}, "- {objectName: k, secretPath: secret/data/a, secretKey: k}")
	if !errors.Is(err, auth.ErrNoKubernetes) {
		t.Fatalf("mount without a driver token = %v, want ErrNoKubernetes", err)
	}
}

// countingCreator is a TokenRequest API that counts its calls.
type countingCreator struct{ calls atomic.Int64 }

func (c *countingCreator) CreateToken(_ context.Context, _, _ string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	c.calls.Add(1)
	out := req.DeepCopy()
	out.Status.Token = "requested"
	return out, nil
}

// TestTokenRequester: the fallback never requests an audience the API
// server accepts (read from the provider's own token), only those in
// -allowed-audiences, and not at all with -driver-tokens-only.
func TestTokenRequester(t *testing.T) {
	const apiAudience = "https://kubernetes.default.svc.cluster.local"
	ownToken := filepath.Join(t.TempDir(), "token")
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":["` + apiAudience + `"],"sub":"system:serviceaccount:csi:vault-csi-provider"}`))
	if err := os.WriteFile(ownToken, []byte("eyJhbGciOiJSUzI1NiJ9."+payload+".c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	pod := auth.Pod{Name: "p", Namespace: "n", UID: "u", ServiceAccount: "sa"}
	tests := []struct {
		name      string
		args      []string
		audience  string
		wantStart string // a substring of the start-up error
		wantErr   error  // of the request; nil: requested
		wantLog   string
	}{
		{"allowed audience", []string{"-service-account-token-file", ownToken}, "vault", "", nil, ""},
		{"audience not allowed", []string{"-service-account-token-file", ownToken}, "other", "", auth.ErrAudienceRefused, ""},
		{"the API server's audience", []string{"-service-account-token-file", ownToken}, apiAudience, "", auth.ErrAudienceRefused, ""},
		{"the API server's audience allowed by mistake", []string{"-service-account-token-file", ownToken, "-allowed-audiences", "vault," + apiAudience},
			"", "an audience the Kubernetes API server accepts", nil, ""},
		{"no token file of its own", []string{"-service-account-token-file", filepath.Join(t.TempDir(), "absent")}, "vault", "", nil,
			"only -allowed-audiences limits"},
		{"driver tokens only", []string{"-driver-tokens-only"}, "vault", "", auth.ErrNoDriverToken, "driver tokens only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.ParseServe(append(tt.args, "-vault-addr", "http://127.0.0.1:1"), envOf(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			creator := &countingCreator{}
			r, err := tokenRequester(cfg, creator, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.wantStart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantStart) {
					t.Fatalf("start-up err = %v, want one mentioning %q", err, tt.wantStart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			a, err := auth.NewAuthenticator(0, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Token(context.Background(), fixedLogin{}, auth.LoginRequest{Pod: pod, Role: "r", AuthMount: "jwt", Audience: tt.audience})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			wantCalls := int64(0)
			if tt.wantErr == nil {
				wantCalls = 1
			}
			if n := creator.calls.Load(); n != wantCalls {
				t.Errorf("%d TokenRequests, want %d", n, wantCalls)
			}
		})
	}
}

// fixedLogin is a Vault that accepts every login.
type fixedLogin struct{}

func (fixedLogin) Config() vault.Config { return vault.Config{Address: "http://vault.test"} }

func (fixedLogin) Login(context.Context, string, string, string) (vault.Login, error) {
	return vault.Login{Token: "hvs.x"}, nil
}

// TestLimitFlagsReachTheService: a limit set by flag bounds the mounts.
func TestLimitFlagsReachTheService(t *testing.T) {
	err := mountWithoutKubernetes(t, []string{"-max-objects=1"}, "- {objectName: a, secretPath: s/a}\n- {objectName: b, secretPath: s/b}")
	var pe *spc.ParamsError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "objects lists 2 objects, above the limit of 1 (-max-objects)") {
		t.Fatalf("two objects with -max-objects=1: %v", err)
	}
}
