package vault

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// refusedAddress is an address nothing listens on.
func refusedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

// slowRetry would make any wait between rounds outlast the test's
// deadline: a call that succeeds did not wait.
var slowRetry = RetryPolicy{MaxRetries: 3, MinWait: time.Minute, MaxWait: time.Minute}

func TestSeveralAddressesMoveOnAtOnce(t *testing.T) {
	tests := []struct {
		name string
		bad  func(http.ResponseWriter, *http.Request)
	}{
		{name: "sealed", bad: status(503, `{"errors":["Vault is sealed"]}`)},
		{name: "standby without an active node", bad: status(500, `{"errors":["local node not active but active cluster node not found"]}`)},
		{name: "standby during an election", bad: status(503, `{"errors":["no active Vault instance found"]}`)},
		{name: "index not yet replicated", bad: status(412, `{"errors":["required index state not present"]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, badSrv := fakeVault(t, tt.bad)
			good, goodSrv := fakeVault(t, status(200, okSecret))
			addrs := strings.Join([]string{refusedAddress(t), badSrv.URL, goodSrv.URL}, ",")
			c := testClient(t, Config{Address: addrs}, slowRetry)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range 3 {
				secret, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if secret.Data["password"] != "p4ss" {
					t.Fatalf("read %d: data %v", i, secret.Data)
				}
			}
			// The first read tried each address once; the others went
			// straight to the one that answered.
			if b, g := bad.calls.Load(), good.calls.Load(); b != 1 || g != 3 {
				t.Errorf("calls: %d to the failing address, %d to the good one; want 1 and 3", b, g)
			}
		})
	}
}

func TestSeveralAddressesAllFailing(t *testing.T) {
	a, aSrv := fakeVault(t, status(503, `{"errors":["Vault is sealed"]}`))
	b, bSrv := fakeVault(t, status(500, `{"errors":["local node not active but active cluster node not found"]}`))
	c := testClient(t, Config{Address: aSrv.URL + "," + bSrv.URL}, fastRetry)
	_, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
	checkSentinel(t, err, ErrUnavailable)
	rounds := int32(fastRetry.MaxRetries + 1)
	if a.calls.Load() != rounds || b.calls.Load() != rounds {
		t.Errorf("calls %d and %d, want %d rounds to each address", a.calls.Load(), b.calls.Load(), rounds)
	}
	want := fmt.Sprintf("(the last of %d tries, from %s)", 2*rounds, bSrv.URL)
	if !strings.Contains(err.Error(), "HTTP 500: local node not active") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q should give the last answer and %q", err, want)
	}
}

func TestThrottleIsNotDodged(t *testing.T) {
	throttle := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		status(429, `{"errors":["request path \"secret/data/x\": rate limit quota exceeded"]}`)(w, r)
	}
	a, aSrv := fakeVault(t, throttle)
	b, bSrv := fakeVault(t, status(200, okSecret))
	c := testClient(t, Config{Address: aSrv.URL + "," + bSrv.URL}, fastRetry)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
	checkSentinel(t, err, ErrUnavailable)
	for _, want := range []string{"HTTP 429", "rate limit quota exceeded", "would come after the deadline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should contain %q", err, want)
		}
	}
	// The whole cluster asked to wait a minute: neither another address
	// nor the deadline's remaining 10 s was spent.
	if a.calls.Load() != 1 || b.calls.Load() != 0 {
		t.Errorf("calls %d and %d, want 1 and 0", a.calls.Load(), b.calls.Load())
	}
	if ctx.Err() != nil {
		t.Errorf("gave up only at the deadline, after %s", time.Since(start))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	throttle := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		status(429, `{"errors":["rate limit quota exceeded"]}`)(w, r)
	}
	rec, srv := fakeVault(t, throttle, status(200, okSecret))
	c := testClient(t, Config{Address: srv.URL}, fastRetry)
	start := time.Now()
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"}); err != nil {
		t.Fatal(err)
	}
	// A lower bound: fastRetry alone would have waited a millisecond.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before Vault's Retry-After of 1s", waited)
	}
	if rec.calls.Load() != 2 {
		t.Errorf("calls %d, want 2", rec.calls.Load())
	}
}

func TestRetryBudget(t *testing.T) {
	m := metrics.NewUnregistered()
	clients, err := NewClients(4, RetryPolicy{
		MaxRetries: 4, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		Budget: Budget{Burst: 2}, // two retries, never refilled
	}, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	rec, srv := fakeVault(t, status(503, `{"errors":["Vault is sealed"]}`))
	for i, want := range []struct {
		calls int32
		note  string
	}{
		{calls: 3, note: "is spent"}, // the first try and both retries
		{calls: 4, note: "is spent"}, // the first try only
		{calls: 5, note: "is spent"}, // the budget is the address's, so another client shares it
	} {
		cfg := Config{Address: srv.URL}
		if i == 2 {
			cfg.Namespace = "team-b"
		}
		c, err := clients.Get(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
		checkSentinel(t, err, ErrUnavailable)
		if got := rec.calls.Load(); got != want.calls {
			t.Errorf("call %d: Vault saw %d tries in all, want %d", i, got, want.calls)
		}
		if !strings.Contains(err.Error(), want.note) {
			t.Errorf("call %d: error %q, want a note %q", i, err, want.note)
		}
	}
	if got := testutil.ToFloat64(m.VaultRetries.WithLabelValues("budget_spent")); got != 3 {
		t.Errorf("budget_spent = %g, want 3", got)
	}
	if got := testutil.ToFloat64(m.VaultRetries.WithLabelValues("wait")); got != 2 {
		t.Errorf("wait = %g, want 2", got)
	}
}

// The retry budget is the host and port's, however a class writes its
// address: another spelling of it gets no retries of its own.
func TestRetryBudgetSharedBySpellings(t *testing.T) {
	clients, err := NewClients(8, RetryPolicy{
		MaxRetries: 4, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		Budget: Budget{Burst: 2}, // two retries, never refilled
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, srv := fakeVault(t, status(503, `{"errors":["Vault is sealed"]}`))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for i, addr := range []string{
		srv.URL,
		srv.URL + "/",
		fmt.Sprintf("HTTP://127.0.0.1:%d/v1?x=1", port),
		fmt.Sprintf("http://127.0.0.1:0%d", port),
		fmt.Sprintf("http://127.0.0.1:%d,http://127.0.0.1:0%d/", port, port),
	} {
		c, err := clients.Get(context.Background(), Config{Address: addr})
		if err != nil {
			t.Fatal(err)
		}
		before := rec.calls.Load()
		_, err = c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
		checkSentinel(t, err, ErrUnavailable)
		want := int32(1) // the first try only: the budget is spent
		if i == 0 {
			want = 3 // the first try and both retries
		}
		if got := rec.calls.Load() - before; got != want {
			t.Errorf("%s: Vault saw %d tries, want %d", addr, got, want)
		}
		if !strings.Contains(err.Error(), "is spent") {
			t.Errorf("%s: error %q, want a note that the budget is spent", addr, err)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"http://vault:8200", "vault:8200"},
		{"http://VAULT.Example.COM:8200", "vault.example.com:8200"},
		{"http://vault:8200/", "vault:8200"},
		{"https://vault:8200/v1/secret?x=1#f", "vault:8200"},
		{"http://user:pw@vault:8200", "vault:8200"},
		{"http://vault.:8200", "vault:8200"},
		{"http://vault:08200", "vault:8200"},
		{"http://vault", "vault:80"},
		{"http://vault:", "vault:80"},
		{"https://vault", "vault:443"},
		{"HTTPS://Vault./", "vault:443"},
		{"http://10.0.0.7:8200", "10.0.0.7:8200"},
		{"http://[::1]:8200", "[::1]:8200"},
		{"http://[0:0:0:0:0:0:0:1]:8200", "[::1]:8200"},
		{"http://[2001:DB8::0001]:8200", "[2001:db8::1]:8200"},
		{"http://[::ffff:10.0.0.7]:8200", "10.0.0.7:8200"},
		{"https://[2001:db8::1]", "[2001:db8::1]:443"},
		{"http://[fe80::1%25eth0]:8200", "[fe80::1%eth0]:8200"},
		{"unix:///run/vault/agent.sock", "unix:///run/vault/agent.sock"},
	} {
		if got := hostPort(tt.addr); got != tt.want {
			t.Errorf("hostPort(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestBudgetBucket(t *testing.T) {
	p := Budget{PerSecond: 2, Ratio: 0.5, Burst: 3}
	var b budget
	t0 := time.Unix(1000, 0)
	takes := func(now time.Time, n int) int {
		got := 0
		for range n {
			if b.take(p, now) {
				got++
			}
		}
		return got
	}
	if got := takes(t0, 5); got != 3 {
		t.Fatalf("a fresh budget gave %d retries, want its burst of 3", got)
	}
	if got := takes(t0.Add(500*time.Millisecond), 5); got != 1 {
		t.Errorf("after 0.5 s at 2/s: %d retries, want 1", got)
	}
	b.deposit(p)
	b.deposit(p)
	if got := takes(t0.Add(500*time.Millisecond), 5); got != 1 {
		t.Errorf("after two first tries at ratio 0.5: %d retries, want 1", got)
	}
	if got := takes(t0.Add(time.Hour), 10); got != 3 {
		t.Errorf("after an hour: %d retries, want the burst of 3", got)
	}
	if got := (RetryPolicy{}).WithBudget(0).Budget; got != (Budget{}) {
		t.Errorf("WithBudget(0) = %+v, want no budget", got)
	}
	if got, want := (RetryPolicy{}).WithBudget(0.25).Budget, (Budget{PerSecond: 0.25, Ratio: 0.2, Burst: 1}); got != want {
		t.Errorf("WithBudget(0.25) = %+v, want %+v", got, want)
	}
	var none budget
	for range 100 {
		if !none.take(Budget{}, t0) {
			t.Fatal("the zero Budget refused a retry")
		}
	}
}

// A try's own time also covers reading its body: the body of the address
// that answered is read after the try returns.
func TestSeveralAddressesLargeBody(t *testing.T) {
	big := `{"data":{"value":"` + strings.Repeat("x", 4<<20) + `"}}`
	_, srv := fakeVault(t, status(200, big))
	c := testClient(t, Config{Address: refusedAddress(t) + "," + srv.URL}, fastRetry)
	for i := range 5 {
		secret, err := c.Read(testContext(t), testToken, Request{Method: "PUT", Path: "pki/issue/web"})
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if v, _ := secret.Data["value"].(string); len(v) != 4<<20 {
			t.Fatalf("read %d: value of %d bytes", i, len(v))
		}
	}
}

// A namespace whose reads always fail spends at most half of an address's
// retry budget: another namespace still gets retries.
func TestRetryBudgetNamespaceShare(t *testing.T) {
	rec, srv := fakeVault(t, status(500, `{"errors":["1 error occurred: connection to the database refused"]}`))
	c := testClient(t, Config{Address: srv.URL}, RetryPolicy{
		MaxRetries: 10, MinWait: time.Millisecond, MaxWait: time.Millisecond,
		Budget: Budget{Burst: 4}, // never refilled: 4 retries, 2 per namespace
	})
	for i, step := range []struct {
		tenant    string
		wantTries int32
		wantNote  string
	}{
		{"team-a", 3, `namespace "team-a"'s half of the retry budget`},
		{"team-a", 1, `namespace "team-a"'s half of the retry budget`},
		{"team-b", 3, `namespace "team-b"'s half of the retry budget`},
		{"team-c", 1, "and the retry budget of " + srv.URL + " is spent"},
	} {
		before := rec.calls.Load()
		_, err := c.Read(WithTenant(testContext(t), step.tenant), testToken, Request{Method: "GET", Path: "database/creds/app"})
		checkSentinel(t, err, ErrUnavailable)
		if got := rec.calls.Load() - before; got != step.wantTries {
			t.Errorf("call %d (%s): %d tries, want %d", i, step.tenant, got, step.wantTries)
		}
		if !strings.Contains(err.Error(), step.wantNote) {
			t.Errorf("call %d: error %q should contain %q", i, err, step.wantNote)
		}
	}
}

// An address that accepts the connection and never answers gets half of
// what is left of the call's time, and the next address the rest.
func TestSeveralAddressesOneHangs(t *testing.T) {
	release := make(chan struct{})
	hung, hungSrv := fakeVault(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before the servers close, which waits for handlers
	good, goodSrv := fakeVault(t, status(200, okSecret))
	c := testClient(t, Config{Address: hungSrv.URL + "," + goodSrv.URL}, fastRetry)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	secret, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
	if err != nil {
		t.Fatal(err)
	}
	if secret.Data["password"] != "p4ss" || hung.calls.Load() != 1 || good.calls.Load() != 1 {
		t.Errorf("data %v, calls %d to the hung address and %d to the good one", secret.Data, hung.calls.Load(), good.calls.Load())
	}
}

func TestClusterKey(t *testing.T) {
	same := []string{
		"https://vault.example:8200,https://standby.example:8200",
		"https://standby.example:8200/, HTTPS://VAULT.example.:8200",
		"https://vault.example:08200,https://standby.example:8200",
	}
	want := ClusterKey(same[0])
	for _, s := range same[1:] {
		if got := ClusterKey(s); got != want {
			t.Errorf("ClusterKey(%q) = %q, want %q as for %q", s, got, want, same[0])
		}
	}
	if other := ClusterKey("https://vault.example:8201"); other == want {
		t.Errorf("another port shares the key %q", other)
	}
}
