package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// gate is a Vault stand-in whose reads wait until released, to hold calls
// in flight (a slow Vault, which a real server cannot be made to be).
type gate struct {
	release  chan struct{}
	calls    atomic.Int64
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	arrived  chan struct{}
	opened   atomic.Int64 // connections accepted
}

func newGate(t *testing.T) (*gate, *httptest.Server) {
	g := &gate{release: make(chan struct{}), arrived: make(chan struct{}, 100)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		n := g.inFlight.Add(1)
		for {
			m := g.maxSeen.Load()
			if n <= m || g.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		g.arrived <- struct{}{}
		<-g.release
		g.inFlight.Add(-1)
		fmt.Fprintf(w, `{"data":{"path":%q}}`, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			g.opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return g, srv
}

func gatedClient(t *testing.T, addr string, opts ...Option) *Client {
	t.Helper()
	clients, err := NewClients(4, fastRetry, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := clients.Get(context.Background(), Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMaxInFlightCapsConcurrentCalls(t *testing.T) {
	g, srv := newGate(t)
	m := metrics.NewUnregistered()
	c := gatedClient(t, srv.URL, WithMaxInFlight(2), WithMetrics(m))
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Read(ctx, testToken, Request{Method: "GET", Path: fmt.Sprintf("secret/data/s%d", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	// Two calls reach Vault; the others wait for a slot.
	<-g.arrived
	<-g.arrived
	if got := testutil.ToFloat64(m.VaultRequestsInFlight); got != 2 {
		t.Errorf("in-flight gauge = %v, want 2", got)
	}
	close(g.release)
	wg.Wait()
	if got := g.maxSeen.Load(); got != 2 {
		t.Errorf("Vault saw %d concurrent calls, want at most 2", got)
	}
	if got := g.calls.Load(); got != 6 {
		t.Errorf("Vault saw %d calls, want 6", got)
	}
	if got := testutil.ToFloat64(m.VaultRequests.WithLabelValues("read", "200")); got != 6 {
		t.Errorf("vault_requests_total{read,200} = %v, want 6", got)
	}
}

func TestIdenticalConcurrentReadsAreCoalesced(t *testing.T) {
	g, srv := newGate(t)
	c := gatedClient(t, srv.URL)
	ctx := testContext(t)
	read := func(token, path string, results chan<- string) {
		s, err := c.Read(ctx, token, Request{Method: "PUT", Path: path, Body: map[string]any{"common_name": "a"}})
		if err != nil {
			t.Error(err)
			results <- ""
			return
		}
		results <- s.Data["path"].(string)
	}
	results := make(chan string, 12)
	go read(testToken, "pki/issue/web", results)
	<-g.arrived // the first call is in flight; identical ones join it
	for range 9 {
		go read(testToken, "pki/issue/web", results)
	}
	go read(testToken+"-other-pod", "pki/issue/web", results) // another token: its own call
	go read(testToken, "pki/issue/other", results)            // another request: its own call
	<-g.arrived
	<-g.arrived
	// Release Vault only once the 9 joining readers wait for the first
	// one's result, so none can arrive after the shared call has finished.
	waitForWaitingReads(t, 12)
	close(g.release)
	for range 12 {
		if r := <-results; r == "" {
			t.Fatal("a read failed")
		}
	}
	if got := g.calls.Load(); got != 3 {
		t.Errorf("Vault saw %d calls, want 3 (10 identical reads coalesced into 1)", got)
	}
}

// waitForWaitingReads waits until n goroutines are blocked inside Read
// waiting for a shared call to end (every caller waits, the call runs on a
// goroutine of its own); a condition on goroutine state, not on time.
func waitForWaitingReads(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 1000 {
		stacks := string(buf[:runtime.Stack(buf, true)])
		waiting := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "vault.(*Client).Read(") && strings.Contains(g, ").Do(") {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d reads ever waited together", n)
}

// TestConcurrentReadsReuseConnections: after a burst of concurrent reads the
// client keeps its connections for the next burst, up to the cap, instead
// of the transport's default of GOMAXPROCS+1.
func TestConcurrentReadsReuseConnections(t *testing.T) {
	const burst = 10
	g, srv := newGate(t)
	c := gatedClient(t, srv.URL, WithMaxInFlight(burst))
	ctx := testContext(t)
	for round := range 2 {
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() {
				if _, err := c.Read(ctx, testToken, Request{Method: "GET", Path: fmt.Sprintf("secret/data/s%d", i)}); err != nil {
					t.Error(err)
				}
			})
		}
		for range burst {
			<-g.arrived // all in flight at once: one connection each
		}
		for range burst {
			g.release <- struct{}{}
		}
		wg.Wait()
		if got := g.opened.Load(); got != burst {
			t.Fatalf("round %d: %d connections opened in all, want %d", round+1, got, burst)
		}
	}
}

// TestSlotWaitHonoursDeadline: a call waiting for a node-wide slot gives up
// at its own deadline.
func TestSlotWaitHonoursDeadline(t *testing.T) {
	g, srv := newGate(t)
	defer close(g.release) // before srv.Close, which waits for handlers
	c := gatedClient(t, srv.URL, WithMaxInFlight(1))
	go func() { _, _ = c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/holder"}) }()
	<-g.arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/waiter"})
	checkSentinel(t, err, ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

// TestTenantShare: a tenant whose calls hang holds at most its share of the
// node-wide slots; another tenant's call goes straight to Vault.
func TestTenantShare(t *testing.T) {
	g, srv := newGate(t)
	c := gatedClient(t, srv.URL, WithMaxInFlight(4), WithMaxInFlightPerTenant(2))
	a, b := WithTenant(testContext(t), "a"), WithTenant(testContext(t), "b")
	var wg sync.WaitGroup
	read := func(ctx context.Context, path string) {
		defer wg.Done()
		if _, err := c.Read(ctx, testToken, Request{Method: "GET", Path: path}); err != nil {
			t.Error(err)
		}
	}
	for i := range 6 {
		wg.Add(1)
		go read(a, fmt.Sprintf("secret/data/a%d", i))
	}
	<-g.arrived
	<-g.arrived
	wg.Add(1)
	go read(b, "secret/data/b")
	<-g.arrived // b's call reaches Vault while a's four others wait
	if got := g.inFlight.Load(); got != 3 {
		t.Errorf("%d calls at Vault, want tenant a's 2 and tenant b's 1", got)
	}
	close(g.release)
	wg.Wait()
	if got := g.calls.Load(); got != 7 {
		t.Errorf("Vault saw %d calls, want 7", got)
	}
}

// TestCoalescedReadKeepsItsDeadline: the first caller of a shared read goes
// away; the caller that joined it still gets the secret. Before, the read
// ran on the first caller's context and the second failed with Canceled.
func TestCoalescedReadKeepsItsDeadline(t *testing.T) {
	g, srv := newGate(t)
	c := gatedClient(t, srv.URL)
	req := Request{Method: "GET", Path: "secret/data/shared"}
	first, cancelFirst := context.WithCancel(testContext(t))
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Read(first, testToken, req)
		firstErr <- err
	}()
	<-g.arrived
	second := make(chan error, 1)
	go func() {
		_, err := c.Read(testContext(t), testToken, req)
		second <- err
	}()
	waitForWaitingReads(t, 2)
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v", err)
	}
	if got := g.calls.Load(); got != 1 {
		t.Errorf("Vault saw %d calls, want 1", got)
	}
}
