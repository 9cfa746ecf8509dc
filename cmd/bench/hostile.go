package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// The hostile scenarios are the attacks of a tenant who can write a
// SecretProviderClass. Each runs against a fresh provider with its default
// flags, as a DaemonSet runs it, so that its peak RSS is its own. A guard
// kills the provider above rssGuardMiB: an unprotected provider would
// otherwise take the machine with it.
const (
	rssGuardMiB   = 1024
	hostileWait   = 30 * time.Second
	rssSampleTick = 20 * time.Millisecond
	// bigBody is what the misbehaving Vault sends with its 403.
	bigBody = 256 << 20
)

// hostileCase is one attack: the class parameters it sends, and whether
// the provider gets SIGTERM while the mount is still under way.
type hostileCase struct {
	name, about string
	params      func(h *hostileEnv) map[string]string
	sigterm     bool
}

var hostileCases = []hostileCase{
	{name: "ca-dev-zero", about: "vaultCACertPath: /dev/zero",
		params: func(h *hostileEnv) map[string]string {
			return map[string]string{"vaultAddress": "https://" + h.hang, "vaultCACertPath": "/dev/zero"}
		}},
	{name: "anchor-bomb", about: "a 317 KiB objects list whose secretArgs reuse a YAML anchor across 40 objects",
		params: func(h *hostileEnv) map[string]string {
			return map[string]string{"vaultAddress": "http://" + h.hang, "objects": anchorBomb(40)}
		}},
	{name: "big-403", about: "a vaultAddress that answers 403 with a 256 MiB body",
		params: func(h *hostileEnv) map[string]string {
			return map[string]string{"vaultAddress": "http://" + h.big}
		}},
	{name: "sigterm-stuck", about: "SIGTERM while a mount waits on a Vault that never answers",
		params: func(h *hostileEnv) map[string]string {
			return map[string]string{"vaultAddress": "http://" + h.hang}
		}, sigterm: true},
}

// hostileEnv holds the misbehaving servers: one that accepts connections
// and never answers, one that answers every request 403 with a huge body.
type hostileEnv struct {
	hang, big string
	closers   []func()
}

func startHostileEnv() (*hostileEnv, error) {
	h := &hostileEnv{}
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				close(done)
				return
			}
			held = append(held, c) // never read, never answered
		}
	}()
	h.hang = hang.Addr().String()
	h.closers = append(h.closers, func() {
		hang.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})

	big, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.close()
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		// A JSON string that never closes within bigBody bytes.
		io.WriteString(w, `{"errors":["`)
		io.CopyN(w, zeros{}, bigBody)
	})}
	go srv.Serve(big)
	h.big = big.Addr().String()
	h.closers = append(h.closers, func() { srv.Close() })
	return h, nil
}

func (h *hostileEnv) close() {
	for _, c := range h.closers {
		c()
	}
}

// zeros reads as an endless run of the letter a.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// anchorBomb is an objects list of n objects whose secretArgs each alias
// one anchor of about 300,000 nodes (single-entry maps in four levels of
// ten-fold aliases). yaml.v3 refuses a decode in which more than 99% of the
// nodes come from aliases, so each object carries its 1% of plain values.
func anchorBomb(n int) string {
	var b strings.Builder
	pad := "[" + strings.TrimSuffix(strings.Repeat("0,", 4000), ",") + "]"
	b.WriteString("- objectName: o0\n  secretPath: secret/data/x\n  secretKey: k\n  method: POST\n  secretArgs:\n")
	b.WriteString("    pad: " + pad + "\n")
	b.WriteString("    l0: &l0 [" + strings.TrimSuffix(strings.Repeat("{k: v}, ", 10), ", ") + "]\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "    l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "- objectName: o%d\n  secretPath: secret/data/x\n  secretKey: k\n  method: POST\n  secretArgs: {pad: %s, a: *l4}\n", i, pad)
	}
	return b.String()
}

// runHostile sends each attack to a fresh provider and prints, per attack,
// the time to the answer (or to the exit after SIGTERM), the gRPC code and
// the peak RSS.
func runHostile(ctx context.Context, o *options) error {
	h, err := startHostileEnv()
	if err != nil {
		return err
	}
	defer h.close()
	fmt.Printf("hostile classes against a fresh provider each (default flags), RSS guard %d MiB, answer awaited %s\n", rssGuardMiB, hostileWait)
	for _, c := range hostileCases {
		line, err := runHostileCase(ctx, o, h, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("hostile: %-13s %s (%s)\n", c.name, line, c.about)
	}
	return nil
}

func runHostileCase(ctx context.Context, o *options, h *hostileEnv, c hostileCase) (string, error) {
	dir, err := os.MkdirTemp(o.dir, c.name+"-")
	if err != nil {
		return "", err
	}
	p, err := startProvider(ctx, o.provider, dir, "http://"+h.hang, false)
	if err != nil {
		return "", err
	}
	defer p.Stop()
	guard := watchRSS(p)
	defer guard.stop()

	req, err := hostileRequest(c.params(h))
	if err != nil {
		return "", err
	}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // kubelet's deadline
	defer cancel()
	answered := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := p.Client.Mount(mctx, req)
		answered <- err
	}()

	if c.sigterm {
		// Let the mount reach the server that never answers, then stop.
		time.Sleep(time.Second)
		start = time.Now()
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
			return fmt.Sprintf("exited %.2f s after SIGTERM, peak RSS %s", time.Since(start).Seconds(), guard.peakString()), nil
		case <-guard.killed:
			return "killed by the RSS guard, peak " + guard.peakString(), nil
		case <-time.After(hostileWait):
			return fmt.Sprintf("still running %s after SIGTERM, peak RSS %s", hostileWait, guard.peakString()), nil
		}
	}
	select {
	case err := <-answered:
		return fmt.Sprintf("answered in %.2f s with %s, peak RSS %s: %s", time.Since(start).Seconds(), status.Code(err), guard.peakString(), brief(err)), nil
	case <-guard.killed:
		return fmt.Sprintf("killed by the RSS guard after %.2f s, peak %s", time.Since(start).Seconds(), guard.peakString()), nil
	case <-time.After(hostileWait):
		return fmt.Sprintf("no answer after %s, peak RSS %s", hostileWait, guard.peakString()), nil
	}
}

// brief is the start of a gRPC error's message.
func brief(err error) string {
	msg := status.Convert(err).Message()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}

// hostileRequest is the driver's Mount request for a pod whose class has
// params on top of a one-object default, with a driver token for vault.
func hostileRequest(params map[string]string) (*pb.MountRequest, error) {
	attrs := map[string]string{
		spc.KeyRoleName:  "attacker",
		spc.KeyAuthMount: "jwt",
		spc.KeyObjects:   "- objectName: x\n  secretPath: secret/data/x\n  secretKey: k\n",
	}
	maps.Copy(attrs, params)
	return csitest.Request{
		Pod:        csitest.Pod{Name: "attacker", Namespace: "tenant-a", UID: "00000000-0000-0000-0000-00000000a77a", ServiceAccount: "default"},
		Params:     attrs,
		Tokens:     map[string]csitest.Token{"vault": {Token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", Expiration: time.Now().Add(time.Hour)}},
		TargetPath: os.TempDir(),
	}.Build()
}

// rssWatch samples a provider's RSS, keeps the peak and kills the provider
// above the guard.
type rssWatch struct {
	peak   float64
	killed chan struct{}
	done   chan struct{}
	quit   chan struct{}
}

func watchRSS(p *provider) *rssWatch {
	w := &rssWatch{killed: make(chan struct{}), done: make(chan struct{}), quit: make(chan struct{})}
	// sample reports false once the guard has killed the provider.
	sample := func() bool {
		rss, err := rssMiB(p.PID())
		if err != nil {
			return true
		}
		w.peak = max(w.peak, rss)
		if rss > rssGuardMiB {
			p.Kill()
			close(w.killed)
			return false
		}
		return true
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(rssSampleTick)
		defer t.Stop()
		for sample() {
			select {
			case <-w.quit:
				sample() // an answer faster than a tick still counts
				return
			case <-p.Exited():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// peakString is the peak so far; read it only from the goroutine that
// started the watch after a select on one of its channels or on the
// provider's exit, which the sampler also watches.
func (w *rssWatch) peakString() string {
	w.stopSampling()
	return fmt.Sprintf("%.1f MiB", w.peak)
}

func (w *rssWatch) stopSampling() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func (w *rssWatch) stop() { w.stopSampling() }
