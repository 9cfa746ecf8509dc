package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// provider is the provider binary on a socket in the run's directory,
// reached with the driver's gRPC client.
type provider struct {
	proc       *proc
	logPath    string
	metricsURL string
	conn       *grpc.ClientConn
	client     pb.CSIDriverProviderClient
}

// startProvider runs bin against vaultAddr, with jwt auth and metrics on a
// free loopback port, and waits for its socket and metrics.
func startProvider(ctx context.Context, bin, dir, vaultAddr string, extra ...string) (*provider, error) {
	port, err := vaulttest.FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "vault.sock")
	p := &provider{logPath: filepath.Join(dir, "provider.log"),
		metricsURL: "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"}
	args := append([]string{"-endpoint", sock, "-vault-addr", vaultAddr, "-vault-mount", "jwt",
		"-health-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:" + strconv.Itoa(port), "-log-level", "warn"}, extra...)
	p.proc, err = startProc(bin, args, p.logPath)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeoutCause(ctx, 15*time.Second, fmt.Errorf("provider not ready after 15s"))
	defer cancel()
	err = csitest.WaitFor(wctx, 20*time.Millisecond, func() (bool, error) {
		if !p.proc.alive() {
			return false, fmt.Errorf("provider exited during start")
		}
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode().Type() != os.ModeSocket {
			return false, nil
		}
		_, err = p.logins(wctx)
		return err == nil, nil
	})
	if err == nil {
		p.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\nprovider log:\n%s", err, logTail(p.logPath, 20))
	}
	p.client = pb.NewCSIDriverProviderClient(p.conn)
	return p, nil
}

// stop closes the connection and ends the provider by PID.
func (p *provider) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.proc.stop()
}

// logins reads the provider's successful Vault logins from its metrics.
func (p *provider) logins(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	total := 0.0
	for _, m := range families["vault_csi_provider_logins_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" && l.GetValue() == "ok" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}
