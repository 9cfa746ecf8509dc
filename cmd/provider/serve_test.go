package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
)

// TestServiceWithoutKubernetes: without a Kubernetes client, a mount whose
// pod token the driver did not pass fails with ErrNoKubernetes and its
// advice, rather than calling through a nil client.
func TestServiceWithoutKubernetes(t *testing.T) {
	cfg, err := config.ParseServe([]string{"-vault-addr", "http://127.0.0.1:1", "-vault-mount", "jwt"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(cfg, nil, metrics.NewUnregistered(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.MountAttributes(context.Background(), map[string]string{
		"roleName": "r", "objects": "- {objectName: k, secretPath: secret/data/a, secretKey: k}",
		"csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/pod.namespace": "n",
		"csi.storage.k8s.io/pod.uid": "u", "csi.storage.k8s.io/serviceAccount.name": "sa",
	}, 0o644)
	if !errors.Is(err, auth.ErrNoKubernetes) {
		t.Fatalf("mount without a driver token = %v, want ErrNoKubernetes", err)
	}
}

// TestLimitFlagsReachTheService: a limit set by flag bounds the mounts.
func TestLimitFlagsReachTheService(t *testing.T) {
	cfg, err := config.ParseServe([]string{"-vault-addr", "http://127.0.0.1:1", "-max-objects=1"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(cfg, nil, metrics.NewUnregistered(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.MountAttributes(context.Background(), map[string]string{
		"roleName": "r", "objects": "- {objectName: a, secretPath: s/a}\n- {objectName: b, secretPath: s/b}",
		"csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/pod.namespace": "n",
		"csi.storage.k8s.io/pod.uid": "u", "csi.storage.k8s.io/serviceAccount.name": "sa",
	}, 0o644)
	var pe *mount.ParamsError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "objects lists 2 objects, above the limit of 1 (-max-objects)") {
		t.Fatalf("two objects with -max-objects=1: %v", err)
	}
}
