package csitest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// Provider is the provider binary running as a child on a socket in a
// directory of its own, reached with the driver's gRPC client.
type Provider struct {
	*vaulttest.Proc
	Client pb.CSIDriverProviderClient
	// MetricsURL is its /metrics, "" when started without metrics.
	MetricsURL string
	// LogPath is its log, provider.log in its directory.
	LogPath string
	conn    *grpc.ClientConn
}

// StartProvider runs bin in dir (created if missing) against vaultAddr with jwt auth at "jwt"
// and PATH as its only environment (no KUBECONFIG: Kubernetes only through
// extra flags), with metrics on a free loopback port when asked, and waits
// up to 15 s for its socket (and metrics).
func StartProvider(ctx context.Context, bin, dir, vaultAddr string, metrics bool, extra ...string) (*Provider, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "vault.sock")
	args := []string{"-endpoint", sock, "-vault-addr", vaultAddr, "-vault-mount", "jwt",
		"-health-addr", "127.0.0.1:0", "-log-level", "warn"}
	p := &Provider{LogPath: filepath.Join(dir, "provider.log")}
	if metrics {
		port, err := vaulttest.FreePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "-metrics-addr", addr)
		p.MetricsURL = "http://" + addr + "/metrics"
	} else {
		// Off rather than the default :8081, which another provider of a
		// test running beside this one may hold.
		args = append(args, "-metrics-addr", "")
	}
	proc, err := vaulttest.StartProc(bin, append(args, extra...), p.LogPath)
	if err != nil {
		return nil, err
	}
	p.Proc = proc
	wctx, cancel := context.WithTimeoutCause(ctx, 15*time.Second,
		fmt.Errorf("provider not ready after 15s (socket %s, metrics %q)", sock, p.MetricsURL))
	defer cancel()
	err = WaitFor(wctx, 20*time.Millisecond, func() (bool, error) {
		if !p.Alive() {
			return false, errors.New("provider exited during start")
		}
		fi, err := os.Stat(sock)
		return err == nil && fi.Mode().Type() == os.ModeSocket && (!metrics || answers(wctx, p.MetricsURL)), nil
	})
	if err == nil {
		p.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w\nprovider log:\n%s", err, p.LogTail())
	}
	p.Client = pb.NewCSIDriverProviderClient(p.conn)
	return p, nil
}

// ProviderBinary returns the provider binary tests run: $PROVIDER_BIN if
// set, else bin/vault-csi-provider in the repository root, which `make
// build` writes (and `make test` runs first).
func ProviderBinary() (string, error) {
	return vaulttest.RepoBinary("vault-csi-provider", "PROVIDER_BIN")
}

// Stop closes the connection and ends the provider by PID.
func (p *Provider) Stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.Proc.Stop()
}

// LogTail is the end of the provider's log, for error messages.
func (p *Provider) LogTail() string { return vaulttest.LogTail(p.LogPath, 20) }

// answers reports whether url answers 200.
func answers(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
