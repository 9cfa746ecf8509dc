package server

import (
	"net/http"
	"sync/atomic"
)

// Health serves /healthz (the process is alive) and /readyz (the provider
// socket is serving).
type Health struct {
	ready atomic.Bool
}

// SetReady records whether the socket serves.
func (h *Health) SetReady(ready bool) { h.ready.Store(ready) }

// Handler returns the HTTP handler for both endpoints.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "provider socket not serving yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
