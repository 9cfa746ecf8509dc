package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/status"
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
	// crowdStart is how long a crowd's volumes get to reach the provider's
	// Vault reads before the other namespace mounts anyway.
	crowdStart = time.Second
)

// hostileCase is one attack: the class parameters it sends, and whether
// the provider gets SIGTERM while the mount is still under way.
type hostileCase struct {
	name, about string
	params      func(h *hostileEnv) map[string]string
	sigterm     bool
	// pods, above 1, mounts the class for that many pods one after
	// another; the answer is the first failure, or the last mount's, with
	// the time of the slowest mount.
	pods int
	// crowd, above 0, mounts the class in that many volumes of one
	// namespace at once, and meanwhile a small class in another namespace,
	// whose answer is the case's.
	crowd int
}

// hostileCases are every attack of the benchmark: the hardening's, then
// the budget's.
var hostileCases = append(slices.Clone(hardeningCases), budgetCases...)

// hardeningCases are attacks on a single limit each (docs/security.md, "Measured").
var hardeningCases = []hostileCase{
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
// and never answers, one that answers every request 403 with a huge body,
// and a Vault whose answers are each within the provider's caps.
type hostileEnv struct {
	hang, big string
	vault     *hostileVault
	closers   []func()
}

func startHostileEnv() (*hostileEnv, error) {
	h := &hostileEnv{}
	v, err := startHostileVault()
	if err != nil {
		return nil, err
	}
	h.vault = v
	h.closers = append(h.closers, v.close)
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
	lim := hostileLimits{deadline: o.timeout, wait: hostileWait, guardMiB: rssGuardMiB}
	fmt.Printf("hostile classes against a fresh provider each (default flags), RSS guard %d MiB, Mount deadline %s, answer awaited %s\n",
		rssGuardMiB, lim.deadline, lim.wait)
	for _, c := range hostileCases {
		r, err := runHostileCase(ctx, o.provider, o.dir, h, c, lim)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("hostile: %-16s %s (%s)\n", c.name, r, c.about)
	}
	return nil
}

// hostileLimits are how an attack is run: the deadline of each Mount, how
// long the answer is awaited, and the RSS above which the guard kills the
// provider.
type hostileLimits struct {
	deadline, wait time.Duration
	guardMiB       float64
}

// hostileResult is what an attack got.
type hostileResult struct {
	// answered is set when the awaited Mount answered; err is its answer.
	answered bool
	err      error
	// elapsed is the time to the answer, to the exit after SIGTERM, to the
	// guard's kill, or the wait.
	elapsed time.Duration
	killed  bool // by the RSS guard
	sigterm bool // the provider got SIGTERM; exited says whether it left
	exited  bool
	// peakMiB is the provider's peak RSS: VmHWM, or the highest sample
	// when the guard killed it.
	peakMiB float64
	// note says which mount answered, and how the others fared.
	note string
}

func (r hostileResult) String() string {
	var s string
	switch {
	case r.killed:
		s = fmt.Sprintf("killed by the RSS guard after %.2f s, peak %.1f MiB", r.elapsed.Seconds(), r.peakMiB)
	case r.sigterm && r.exited:
		s = fmt.Sprintf("exited %.2f s after SIGTERM, peak RSS %.1f MiB", r.elapsed.Seconds(), r.peakMiB)
	case r.sigterm:
		s = fmt.Sprintf("still running %s after SIGTERM, peak RSS %.1f MiB", r.elapsed, r.peakMiB)
	case !r.answered:
		s = fmt.Sprintf("no answer after %s, peak RSS %.1f MiB", r.elapsed, r.peakMiB)
	default:
		s = fmt.Sprintf("answered in %.2f s with %s, peak RSS %.1f MiB", r.elapsed.Seconds(), status.Code(r.err), r.peakMiB)
		if r.err != nil {
			s += ": " + brief(r.err)
		}
	}
	if r.note != "" {
		s += " [" + r.note + "]"
	}
	return s
}

// runHostileCase runs c against a fresh provider bin in a directory under
// dir, and ends the provider.
func runHostileCase(ctx context.Context, bin, dir string, h *hostileEnv, c hostileCase, lim hostileLimits) (hostileResult, error) {
	plan, err := c.plan(h)
	if err != nil {
		return hostileResult{}, err
	}
	pdir, err := os.MkdirTemp(dir, c.name+"-")
	if err != nil {
		return hostileResult{}, err
	}
	p, err := startProvider(ctx, bin, pdir, "http://"+h.hang, false)
	if err != nil {
		return hostileResult{}, err
	}
	// Killed rather than stopped: a graceful stop would wait for mounts
	// still busy with the attack.
	defer p.Stop()
	defer p.Kill()
	guard := watchRSS(p, lim.guardMiB)
	defer guard.stopSampling()

	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answered := make(chan hostileAnswer, 1)
	start := time.Now()
	go func() { answered <- plan.send(mctx, p.Client, h, lim.deadline) }()

	r := hostileResult{sigterm: c.sigterm}
	if c.sigterm {
		// Let the mount reach the server that never answers, then stop.
		time.Sleep(time.Second)
		start = time.Now()
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
			r.exited = true
		case <-guard.killed:
			r.killed = true
		case <-time.After(lim.wait):
		}
		r.elapsed, r.peakMiB = time.Since(start), guard.peak()
		return r, nil
	}
	select {
	case a := <-answered:
		r.answered, r.err, r.elapsed, r.note = true, a.err, a.elapsed, a.note
	case <-guard.killed:
		r.elapsed = time.Since(start)
	case <-time.After(lim.wait):
		r.elapsed = lim.wait
	}
	r.peakMiB = guard.peak()
	// The guard's kill may reach the client as an answer (the socket
	// closed) before the guard reports it; the sampling has ended now.
	select {
	case <-guard.killed:
		r.killed = true
	default:
	}
	return r, nil
}

// brief is the start of a gRPC error's message.
func brief(err error) string {
	msg := status.Convert(err).Message()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}
