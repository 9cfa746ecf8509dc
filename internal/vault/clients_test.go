package vault

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestClientsCache(t *testing.T) {
	clients, err := NewClients(2, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	get := func(cfg Config) *Client {
		t.Helper()
		c, err := clients.Get(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := Config{Address: "https://vault-a:8200"}
	aNS := Config{Address: "https://vault-a:8200", Namespace: "team"}
	b := Config{Address: "https://vault-b:8200"}

	first := get(a)
	if first.Config() != a {
		t.Errorf("Config() = %+v, want %+v", first.Config(), a)
	}
	if get(a) != first {
		t.Error("same Config gave a different client")
	}
	if get(aNS) == first {
		t.Error("a different Namespace gave the same client")
	}
	// a, aNS, b: a is the least recently used and is evicted.
	get(b)
	if n := clients.cache.Len(); n != 2 {
		t.Errorf("cache holds %d clients, want at most 2", n)
	}
	if get(a) == first {
		t.Error("evicted client came back from the cache")
	}
}

func TestClientsConcurrentGetBuildsOnce(t *testing.T) {
	clients, err := NewClients(8, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Address: "https://vault:8200", CACert: writeFile(t, t.TempDir(), "ca.pem", selfSignedPEM(t))}
	const n = 50
	got := make([]*Client, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := clients.Get(context.Background(), cfg)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		}()
	}
	wg.Wait()
	for i, c := range got {
		if c != got[0] {
			t.Fatalf("caller %d got a different client: built more than once", i)
		}
	}
}

// TestClientsGetHonoursDeadline: a caller whose context has ended gets
// ErrUnavailable with the context's error, not a build it no longer wants.
func TestClientsGetHonoursDeadline(t *testing.T) {
	clients, err := NewClients(2, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = clients.Get(ctx, Config{Address: "https://vault:8200"})
	checkSentinel(t, err, ErrUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%q, context.Canceled) = false", err)
	}
}

func TestClientsErrorsAreNotCached(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(status(200, okSecret)))
	t.Cleanup(srv.Close)
	clients, err := NewClients(2, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{Address: srv.URL, CACert: filepath.Join(dir, "ca.pem")}
	if _, err := clients.Get(context.Background(), cfg); err == nil {
		t.Fatal("Get with a missing CA file succeeded")
	}
	writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	c, err := clients.Get(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Get after the CA file appeared: %v", err)
	}
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"}); err != nil {
		t.Fatal(err)
	}
}

func TestNewClientsValidation(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		retry RetryPolicy
	}{
		{name: "zero size", size: 0, retry: DefaultRetryPolicy()},
		{name: "negative retries", size: 1, retry: RetryPolicy{MaxRetries: -1}},
		{name: "negative wait", size: 1, retry: RetryPolicy{MinWait: -time.Second}},
		{name: "min above max", size: 1, retry: RetryPolicy{MinWait: time.Second, MaxWait: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClients(tt.size, tt.retry)
			checkSentinel(t, err, ErrConfig)
		})
	}
}

func TestBackoff(t *testing.T) {
	p := DefaultRetryPolicy()
	for round := range 10 {
		upper := min(p.MinWait<<round, p.MaxWait)
		for range 20 {
			if got := p.backoff(round); got < upper/2 || got > upper {
				t.Fatalf("round %d: wait %s outside [%s, %s]", round, got, upper/2, upper)
			}
		}
	}
	if got := (RetryPolicy{}).backoff(3); got != 0 {
		t.Errorf("zero policy waits %s", got)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		code   int
		value  string
		want   time.Duration
		wantOK bool
	}{
		{429, "1", time.Second, true},
		{503, "60", time.Minute, true},
		{429, "0", 0, true},
		{500, "5", 0, false},
		{429, "soon", 0, false},
		{429, "-1", 0, false},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.code, Header: http.Header{"Retry-After": {tt.value}}}
		got, ok := retryAfter(resp)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%d Retry-After %q: %s, %t; want %s, %t", tt.code, tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}
