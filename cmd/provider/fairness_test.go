package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

	sock := filepath.Join(t.TempDir(), "vault.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-endpoint", sock, "-health-addr", "", "-metrics-addr", "",
			"-vault-addr", vaultSrv.URL, "-vault-mount", "jwt", "-max-vault-requests", "4", "-mount-concurrency", "2"},
			io.Discard, io.Discard, envOf(nil))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	client := dialProvider(t, sock)
	waitFor(t, "the socket", func() bool {
		_, err := client.Version(ctx, &pb.VersionRequest{})
		return err == nil
	})

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
