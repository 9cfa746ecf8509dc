package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// watcher polls every node's /v1/sys/health directly (not through the
// taps) and keeps which node is active and the longest stretch without an
// active node.
type watcher struct {
	nodes    []string // API addresses
	interval time.Duration

	mu         sync.Mutex
	cur        int       // active node, -1 for none
	lastActive time.Time // last poll that found an active node
	longest    time.Duration
}

func newWatcher(nodes []string, interval time.Duration) *watcher {
	return &watcher{nodes: nodes, interval: interval, cur: -1}
}

// run polls until ctx ends.
func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll asks every node at once; a node that does not answer within 250 ms
// is not active.
func (w *watcher) poll(ctx context.Context) {
	codes := make([]int, len(w.nodes))
	var wg sync.WaitGroup
	for i, addr := range w.nodes {
		wg.Go(func() { codes[i] = health(ctx, addr) })
	}
	wg.Wait()
	now := time.Now()
	active := -1
	for i, code := range codes {
		if code == healthActive {
			active = i
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cur = active
	if active < 0 {
		return
	}
	if !w.lastActive.IsZero() {
		w.longest = max(w.longest, now.Sub(w.lastActive)-w.interval)
	}
	w.lastActive = now
}

func (w *watcher) active() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// reset starts a new measurement of the longest stretch without an
// active node.
func (w *watcher) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.longest = 0
	w.lastActive = time.Now()
}

// longestOutage is the longest stretch without an active node since
// reset, counting one still under way.
func (w *watcher) longestOutage() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur < 0 {
		return max(w.longest, time.Since(w.lastActive))
	}
	return w.longest
}

// front plays the Kubernetes Service of the active node (vault-helm's
// vault-active): each request goes to the tap of the node its own watcher
// last saw active, and with none it answers 503 at once.
type front struct {
	addr    string
	watch   *watcher
	proxies []*httputil.ReverseProxy // one per tap
	srv     *http.Server
}

func newFront(ctx context.Context, nodes []string, taps []*tap) (*front, error) {
	f := &front{watch: newWatcher(nodes, 100*time.Millisecond)}
	for _, t := range taps {
		target, err := url.Parse(t.url())
		if err != nil {
			return nil, err
		}
		f.proxies = append(f.proxies, &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
			Transport: newTransport(),
			// As a Service whose endpoint just died: the connection ends.
			ErrorHandler: dropConnection,
		})
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.addr = l.Addr().String()
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go f.watch.run(ctx)
	go func() { _ = f.srv.Serve(l) }()
	return f, nil
}

func (f *front) url() string { return "http://" + f.addr }

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := f.watch.active()
	if i < 0 {
		http.Error(w, "no active Vault node", http.StatusServiceUnavailable)
		return
	}
	f.proxies[i].ServeHTTP(w, r)
}

func (f *front) close() { _ = f.srv.Close() }
