package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-version"}, &out, io.Discard, envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "vault-csi-provider ") || !strings.Contains(got, runtime.Version()) || !strings.Contains(got, "commit ") {
		t.Errorf("-version printed %q", got)
	}
}

func TestBadFlagsFail(t *testing.T) {
	err := run(context.Background(), []string{"-log-format=xml"}, io.Discard, io.Discard, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "-log-format") {
		t.Errorf("err = %v", err)
	}
}

// handleLogin answers every jwt login with the same Vault token.
func handleLogin(mux *http.ServeMux) {
	mux.HandleFunc("/v1/auth/jwt/login", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"auth":{"client_token":"hvs.test","accessor":"a","lease_duration":3600,"renewable":true}}`)
	})
}

// mountRequest is the driver's request for pod (namespace n, service
// account sa, a token for the audience vault) mounting objects.
func mountRequest(pod, objects string) *pb.MountRequest {
	attrs, _ := json.Marshal(map[string]string{
		"roleName": "r", "objects": objects,
		"csi.storage.k8s.io/pod.name": pod, "csi.storage.k8s.io/pod.namespace": "n",
		"csi.storage.k8s.io/pod.uid": "uid-" + pod, "csi.storage.k8s.io/serviceAccount.name": "sa",
		"csi.storage.k8s.io/serviceAccount.tokens": `{"vault":{"token":"jwt","expirationTimestamp":""}}`,
	})
	return &pb.MountRequest{Attributes: string(attrs), Permission: "420"}
}

// dialProvider is a driver's client of the provider's socket.
func dialProvider(t *testing.T, sock string) pb.CSIDriverProviderClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewCSIDriverProviderClient(conn)
}

// startDaemon runs the daemon on a socket of its own with args (health and
// metrics endpoints off) until the test ends, and returns a client once the
// socket answers, with the daemon's context.
func startDaemon(t *testing.T, args ...string) (pb.CSIDriverProviderClient, context.Context) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vault.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-endpoint", sock, "-health-addr", "", "-metrics-addr", ""}, args...),
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
	return client, ctx
}

// slowVault answers a jwt login and serves one KV v2 secret after a delay:
// a fault a real Vault cannot be made to produce on demand.
func slowVault(t *testing.T, delay time.Duration, reads *atomic.Int64) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	handleLogin(mux)
	mux.HandleFunc("/v1/secret/data/slow", func(w http.ResponseWriter, _ *http.Request) {
		reads.Add(1)
		time.Sleep(delay)
		fmt.Fprint(w, `{"data":{"data":{"k":"slow-value"},"metadata":{"version":1}}}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeStopsGracefully starts the daemon, checks health and readiness,
// sends SIGTERM's equivalent while a mount is in flight, and expects that
// mount to finish and the daemon to exit cleanly.
func TestServeStopsGracefully(t *testing.T) {
	var reads atomic.Int64
	vaultSrv := slowVault(t, 500*time.Millisecond, &reads)
	sock := filepath.Join(t.TempDir(), "vault.sock")
	health, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-endpoint", sock, "-health-addr", health, "-metrics-addr", metricsAddr,
			"-vault-addr", vaultSrv.URL, "-vault-mount", "jwt"},
			io.Discard, io.Discard, envOf(nil))
	}()
	waitFor(t, "readiness", func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != socketMode {
		t.Fatalf("socket: %v, mode %v", err, fi.Mode())
	}

	client := dialProvider(t, sock)
	req := mountRequest("p", "- {objectName: k, secretPath: secret/data/slow, secretKey: k}")
	mounted := make(chan error, 1)
	var resp *pb.MountResponse
	go func() {
		var err error
		resp, err = client.Mount(context.Background(), req)
		mounted <- err
	}()
	waitFor(t, "the mount to reach Vault", func() bool { return reads.Load() > 0 })
	// A first mount completes before the stop, so it shows in the metrics.
	var scraped string
	select {
	case err := <-mounted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first mount did not finish")
	}
	scraped = scrape(t, "http://"+metricsAddr+"/metrics")
	go func() {
		var err error
		resp, err = client.Mount(context.Background(), req)
		mounted <- err
	}()
	waitFor(t, "the second mount to reach Vault", func() bool { return reads.Load() > 1 })
	cancel()

	if err := <-mounted; err != nil {
		t.Fatalf("in-flight mount failed during shutdown: %v", err)
	}
	if string(resp.Files[0].Contents) != "slow-value" {
		t.Errorf("in-flight mount returned %q", resp.Files[0].Contents)
	}
	if !strings.Contains(scraped, `vault_csi_provider_mounts_total{code="OK"}`) {
		t.Errorf("metrics before the stop lack the mount count:\n%.2000s", scraped)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lockedBuffer collects a daemon's log while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStopAbandonsStuckMount: a mount whose Vault never answers does not
// hold the daemon past -shutdown-timeout; the log names the mount's pod and
// no token.
func TestStopAbandonsStuckMount(t *testing.T) {
	var reads atomic.Int64
	release := make(chan struct{})
	mux := http.NewServeMux()
	handleLogin(mux)
	mux.HandleFunc("/v1/secret/data/stuck", func(_ http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		select { // never answers while the daemon runs
		case <-release:
		case <-r.Context().Done():
		}
	})
	vaultSrv := httptest.NewServer(mux)
	t.Cleanup(vaultSrv.Close)
	t.Cleanup(func() { close(release) })

	sock := filepath.Join(t.TempDir(), "vault.sock")
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-endpoint", sock, "-health-addr", "", "-metrics-addr", "",
			"-vault-addr", vaultSrv.URL, "-vault-mount", "jwt", "-shutdown-timeout", "500ms"},
			io.Discard, logs, envOf(nil))
	}()
	waitFor(t, "the socket", func() bool { _, err := os.Stat(sock); return err == nil })
	client := dialProvider(t, sock)
	mounted := make(chan error, 1)
	go func() {
		_, err := client.Mount(context.Background(), mountRequest("stuck-pod", "- {objectName: k, secretPath: secret/data/stuck, secretKey: k}"))
		mounted <- err
	}()
	waitFor(t, "the mount to reach Vault", func() bool { return reads.Load() > 0 })
	cancel()

	// The bound only guards the test against a hang; without -shutdown-timeout
	// the daemon waits for the mount forever.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not stop with a stuck mount")
	}
	if err := <-mounted; err == nil {
		t.Error("the abandoned mount succeeded")
	}
	out := logs.String()
	for _, want := range []string{"abandoned a mount", "pod=n/stuck-pod", "pod_uid=uid-stuck-pod"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hvs.test", `"jwt"`} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a token (%s)", secret)
		}
	}
}
