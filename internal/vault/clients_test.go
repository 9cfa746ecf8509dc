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
	for attempt := range 10 {
		upper := min(p.MinWait<<attempt, p.MaxWait)
		for range 20 {
			got := p.backoff(0, 0, attempt, nil)
			if got < upper/2 || got > upper {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", attempt, got, upper/2, upper)
			}
		}
	}
	retryAfter := func(code int, value string) *http.Response {
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {value}}}
	}
	tests := []struct {
		name string
		resp *http.Response
		want time.Duration
	}{
		{name: "Retry-After on 429", resp: retryAfter(429, "1"), want: time.Second},
		{name: "Retry-After capped at MaxWait", resp: retryAfter(503, "60"), want: p.MaxWait},
		{name: "Retry-After raised to MinWait", resp: retryAfter(429, "0"), want: p.MinWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.backoff(0, 0, 0, tt.resp); got != tt.want {
				t.Errorf("backoff = %s, want %s", got, tt.want)
			}
		})
	}
	if got := (RetryPolicy{}).backoff(0, 0, 3, nil); got != 0 {
		t.Errorf("zero policy waits %s", got)
	}
}
