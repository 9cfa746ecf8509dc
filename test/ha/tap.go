package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// tap is a reverse proxy in front of one node. The provider reaches Vault
// only through taps (directly or through the front), so they count every
// request of the provider that reached a node, per second, and one can be
// made to refuse connections as an unreachable node would.
type tap struct {
	addr  string // 127.0.0.1:PORT, kept across refuse and reopen
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	srv    *http.Server  // nil while refusing
	counts map[int64]int // unix second → requests answered by the node
}

// newTap listens on addr (the node's api_addr) and forwards to nodeAddr.
func newTap(nodeAddr, addr string) (*tap, error) {
	target, err := url.Parse(nodeAddr)
	if err != nil {
		return nil, err
	}
	t := &tap{addr: addr, counts: map[int64]int{}}
	t.proxy = &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
		Transport: countingTransport{base: newTransport(), count: t.count},
		// A node that is down drops the connection instead of answering
		// 502, as the node itself would look to the client.
		ErrorHandler: dropConnection,
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tap of %s: %w", nodeAddr, err)
	}
	t.serve(l)
	return t, nil
}

func (t *tap) url() string { return "http://" + t.addr }

func (t *tap) serve(l net.Listener) {
	srv := &http.Server{Handler: t.proxy, ReadHeaderTimeout: 10 * time.Second}
	t.mu.Lock()
	t.srv = srv
	t.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// refuse closes the listener and every open connection: new connections
// are refused and kept-alive ones end.
func (t *tap) refuse() {
	t.mu.Lock()
	srv := t.srv
	t.srv = nil
	t.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// reopen listens again on the same port.
func (t *tap) reopen() error {
	l, err := net.Listen("tcp", t.addr)
	if err != nil {
		return fmt.Errorf("reopening tap %s: %w", t.addr, err)
	}
	t.serve(l)
	return nil
}

func (t *tap) count(at time.Time) {
	t.mu.Lock()
	t.counts[at.Unix()]++
	t.mu.Unlock()
}

// requests is how many requests reached the node in the whole seconds
// from from to to, both included.
func (t *tap) requests(from, to time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for s := from.Unix(); s <= to.Unix(); s++ {
		n += t.counts[s]
	}
	return n
}

// countingTransport counts the requests the node answered.
type countingTransport struct {
	base  http.RoundTripper
	count func(time.Time)
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.count(time.Now())
	}
	return resp, err
}

// newTransport is a transport to loopback servers that ignores proxy
// settings and gives up on a dead one quickly.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

// dropConnection ends the client's connection without an answer.
func dropConnection(w http.ResponseWriter, _ *http.Request, _ error) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}
