package logging

import (
	"context"
	"log/slog"
	"sync"
)

// Fields collects attributes a handler learns while serving a request
// (the pod, the object count) for the interceptor's single log line.
type Fields struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type fieldsKey struct{}

// WithFields returns a context carrying a new, empty Fields.
func WithFields(ctx context.Context) (context.Context, *Fields) {
	f := &Fields{}
	return context.WithValue(ctx, fieldsKey{}, f), f
}

// Add records attributes on the request in ctx; without Fields it does
// nothing, so handlers work the same when called outside gRPC.
func Add(ctx context.Context, attrs ...slog.Attr) {
	f, ok := ctx.Value(fieldsKey{}).(*Fields)
	if !ok {
		return
	}
	f.mu.Lock()
	f.attrs = append(f.attrs, attrs...)
	f.mu.Unlock()
}

// Attrs returns a copy of the recorded attributes.
func (f *Fields) Attrs() []slog.Attr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slog.Attr(nil), f.attrs...)
}
