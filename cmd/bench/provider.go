package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// provider is the provider binary running as a subprocess on a temporary
// socket, reached with the driver's gRPC client.
type provider struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	conn    *grpc.ClientConn
	client  pb.CSIDriverProviderClient
	metrics *scraper
}

// hasFlag reports whether the binary's usage (-h) lists -name.
func hasFlag(bin, name string) bool {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "-"+name {
			return true
		}
	}
	return false
}

// startProvider runs bin in dir against vaultAddr with PATH as its only
// environment (no KUBECONFIG: Kubernetes only through extra flags, such as
// the fake API server's -kubeconfig). With withMetrics, metrics are served
// on a free loopback port.
func startProvider(ctx context.Context, bin, dir, vaultAddr string, withMetrics bool, extra ...string) (*provider, error) {
	sock := filepath.Join(dir, "vault.sock")
	args := []string{"-endpoint", sock, "-vault-addr", vaultAddr, "-vault-mount", "jwt",
		"-health-addr", "127.0.0.1:0", "-log-level", "warn"}
	args = append(args, extra...)
	metricsURL := ""
	if withMetrics {
		port, err := vaulttest.FreePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "-metrics-addr", addr)
		metricsURL = "http://" + addr + "/metrics"
	}
	p := &provider{logPath: filepath.Join(dir, "provider.log"), exited: make(chan struct{}), metrics: newScraper(metricsURL)}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = childAttr(nil)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting provider: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, sock, metricsURL); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\nprovider log:\n%s", err, p.logTail())
	}
	p.conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.stop()
		return nil, err
	}
	p.client = pb.NewCSIDriverProviderClient(p.conn)
	return p, nil
}

// waitReady waits for the socket and, if asked for, the metrics endpoint.
func (p *provider) waitReady(ctx context.Context, sock, metricsURL string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if isSocket(sock) && (metricsURL == "" || answers(ctx, metricsURL)) {
			return nil
		}
		select {
		case <-p.exited:
			return errors.New("provider exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("provider not ready after 15s (socket %s, metrics %q)", sock, metricsURL)
}

func isSocket(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Type() == os.ModeSocket
}

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

// pid is the provider's process id.
func (p *provider) pid() int { return p.cmd.Process.Pid }

// stop closes the connection and ends the provider by PID: SIGTERM, then
// SIGKILL after 10 s.
func (p *provider) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of the provider's log, for error messages.
func (p *provider) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:] // whole lines only
		}
	}
	return strings.TrimRight(string(b), "\n")
}
