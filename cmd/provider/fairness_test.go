package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// TestSlowPodDoesNotBlockOthers runs the daemon with a cap of 4 Vault
// requests and 2 per mount: while one pod's mount waits on secrets that
// hang (a fault a real Vault cannot be made to produce), another pod's
// mount is served, and the slow mount never has more than 2 reads at Vault.
func TestSlowPodDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	var slowInFlight, slowMax atomic.Int64
	mux := http.NewServeMux()
	handleLogin(mux)
	mux.HandleFunc("/v1/secret/data/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/secret/data/slow") {
			n := slowInFlight.Add(1)
			for m := slowMax.Load(); n > m && !slowMax.CompareAndSwap(m, n); m = slowMax.Load() {
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			slowInFlight.Add(-1)
		}
		fmt.Fprint(w, `{"data":{"data":{"k":"value"},"metadata":{"version":1}}}`)
	})
	vaultSrv := httptest.NewServer(mux)
	t.Cleanup(vaultSrv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	client, ctx := startDaemon(t, "-vault-addr", vaultSrv.URL, "-vault-mount", "jwt", "-max-vault-requests", "4", "-mount-concurrency", "2")

	slowDone := make(chan error, 1)
	go func() {
		_, err := client.Mount(ctx, mountRequest("slow", `
- {objectName: a, secretPath: secret/data/slow-a, secretKey: k}
- {objectName: b, secretPath: secret/data/slow-b, secretKey: k}
- {objectName: c, secretPath: secret/data/slow-c, secretKey: k}
- {objectName: d, secretPath: secret/data/slow-d, secretKey: k}`))
		slowDone <- err
	}()
	waitFor(t, "the slow mount to fill its share of the slots", func() bool { return slowInFlight.Load() == 2 })

	fastCtx, fastCancel := context.WithTimeout(ctx, 10*time.Second)
	defer fastCancel()
	resp, err := client.Mount(fastCtx, mountRequest("fast", "- {objectName: k, secretPath: secret/data/fast, secretKey: k}"))
	if err != nil {
		t.Fatalf("the other pod's mount waited on the slow one: %v", err)
	}
	if string(resp.GetFiles()[0].GetContents()) != "value" {
		t.Errorf("fast mount returned %q", resp.GetFiles()[0].GetContents())
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow mount finished before its secrets were released: %v", err)
	default:
	}

	close(release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow mount: %v", err)
	}
	if got := slowMax.Load(); got != 2 {
		t.Errorf("the slow mount had %d reads at Vault at once, want -mount-concurrency 2", got)
	}
}

// TestNamespaceCannotTakeEverySlot runs the daemon with its default caps
// (64 Vault requests, 16 per namespace, 8 per mount). Namespace a mounts 8
// volumes of 8 objects each, all with different roles, against a Vault
// whose reads never answer: together they want all 64 slots. Namespace
// shop's mount against the real Vault is still served within its deadline.
// Before, a's mounts held every slot and shop's mount failed at its deadline.
func TestNamespaceCannotTakeEverySlot(t *testing.T) {
	v, tok := checkVault(t)
	var hung atomic.Int64
	mux := http.NewServeMux()
	handleLogin(mux)
	mux.HandleFunc("/v1/secret/data/", func(_ http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		<-r.Context().Done()
	})
	hangSrv := httptest.NewServer(mux)
	t.Cleanup(hangSrv.Close)

	client, ctx := startDaemon(t, "-vault-mount", "jwt", "-vault-addr", v.Addr)
	// Cancelled before the daemon stops (cleanups run last first), so the
	// hung mounts end first.
	hungCtx, cancelHung := context.WithCancel(ctx)
	t.Cleanup(cancelHung)

	for i := range 8 {
		// Paths differ between volumes: the fake login hands every role
		// the same token, and identical reads would be sent once.
		var objects strings.Builder
		for j := range 8 {
			fmt.Fprintf(&objects, "- {objectName: o%d, secretPath: secret/data/hang-%d-%d, secretKey: k}\n", j, i, j)
		}
		req := withAttributes(t, mountRequest(fmt.Sprintf("a-%d", i), objects.String()), map[string]string{
			"vaultAddress": hangSrv.URL, "roleName": fmt.Sprintf("role-%d", i), "csi.storage.k8s.io/pod.namespace": "a",
		})
		go func() { _, _ = client.Mount(hungCtx, req) }()
	}
	waitFor(t, "namespace a to fill its share of the slots", func() bool { return hung.Load() >= 16 })

	req := withAttributes(t, mountRequest("web-1", "- {objectName: password, secretPath: secret/data/db, secretKey: password}"), map[string]string{
		"roleName": "web", "csi.storage.k8s.io/pod.namespace": "shop", "csi.storage.k8s.io/serviceAccount.name": "web",
		"csi.storage.k8s.io/pod.uid":               "uid-1",
		"csi.storage.k8s.io/serviceAccount.tokens": fmt.Sprintf(`{"vault":{"token":%q,"expirationTimestamp":""}}`, tok),
	})
	shopCtx, shopCancel := context.WithTimeout(ctx, 20*time.Second)
	defer shopCancel()
	resp, err := client.Mount(shopCtx, req)
	if err != nil {
		t.Fatalf("namespace shop's mount waited on namespace a's hung Vault: %v", err)
	}
	if got := string(resp.GetFiles()[0].GetContents()); got != "check-secret-value" {
		t.Errorf("shop's mount returned %q", got)
	}
	if got := hung.Load(); got != 16 {
		t.Errorf("namespace a has %d reads at its Vault, want its share of 16", got)
	}
}

// withAttributes returns req with the given attributes set.
func withAttributes(t *testing.T, req *pb.MountRequest, set map[string]string) *pb.MountRequest {
	t.Helper()
	attrs := map[string]string{}
	if err := json.Unmarshal([]byte(req.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		attrs[k] = v
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	req.Attributes = string(b)
	return req
}

// TestClassTLSFilesRefused: TLS files a class names that are not regular
// files in -allowed-tls-dirs fail the mount at once with InvalidArgument.
// Before, vaultCACertPath: /dev/zero never answered and grew the provider
// past 2 GiB.
func TestClassTLSFilesRefused(t *testing.T) {
	allowed := t.TempDir()
	fifo := filepath.Join(allowed, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	client, ctx := startDaemon(t, "-vault-mount", "jwt", "-allowed-tls-dirs", allowed)
	for _, path := range []string{"/dev/zero", fifo, filepath.Join(allowed, "missing.pem")} {
		t.Run(path, func(t *testing.T) {
			req := withAttributes(t, mountRequest("p", "- {objectName: k, secretPath: secret/data/x, secretKey: k}"),
				map[string]string{"vaultCACertPath": path, "vaultAddress": "https://127.0.0.1:1"})
			mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
			defer mcancel()
			_, err := client.Mount(mctx, req)
			if got := status.Code(err); got != codes.InvalidArgument {
				t.Errorf("Mount: %v, want InvalidArgument", err)
			}
		})
	}
}
