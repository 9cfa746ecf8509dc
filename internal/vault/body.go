package vault

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

const (
	// maxResponseBytes bounds a 2xx body: the secrets store driver cannot
	// pass on more than a few MiB per mount anyway.
	maxResponseBytes = 8 << 20
	// maxErrorBytes bounds any other body: only Vault's short "errors" list
	// is used, and the api client reads error bodies whole into memory.
	maxErrorBytes = 64 << 10
	// maxHeaderBytes bounds a response's headers, those of 1xx responses
	// before it included, whatever its status: Vault sends a few hundred
	// bytes, and net/http's default would hold 10 MiB for any address a
	// class names.
	maxHeaderBytes = 64 << 10
)

// headersTooLargeError reports a response refused for headers past
// maxHeaderBytes.
type headersTooLargeError struct {
	cause error
}

func (e *headersTooLargeError) Error() string {
	return fmt.Sprintf("response headers larger than %d bytes, the limit for any answer", maxHeaderBytes)
}

func (e *headersTooLargeError) Unwrap() error { return e.cause }

// isHeaderLimit reports net/http's refusal of HTTP/1 headers past the
// transport's MaxResponseHeaderBytes, which has no error type to match.
// x/net/http2 enforces the limit too, but by far past it fails with a bare
// PROTOCOL_ERROR that says nothing more.
func isHeaderLimit(err error) bool {
	return strings.Contains(err.Error(), "net/http: server response headers exceeded")
}

// bodyTooLargeError reports a response body cut off at its limit.
type bodyTooLargeError struct {
	status int
	limit  int64
}

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("HTTP %d: response body larger than %d bytes, the limit for its status", e.status, e.limit)
}

// limitResponses bounds every response body, whatever its status, before
// anything (the api client's error decoding, parseSecret) reads it, and
// names the refusal of headers past maxHeaderBytes, which base enforces.
type limitResponses struct {
	base http.RoundTripper
}

func (l limitResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil && isHeaderLimit(err) {
		return nil, &headersTooLargeError{cause: err}
	}
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := int64(maxErrorBytes)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		limit = maxResponseBytes
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, err: &bodyTooLargeError{status: resp.StatusCode, limit: limit}}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport when a client is evicted.
func (l limitResponses) CloseIdleConnections() {
	if c, ok := l.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// limitedBody fails once more than its limit has been read, and closes the
// body then, which drops the connection instead of draining the rest.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  *bodyTooLargeError
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.err
	}
	// Read one byte past the limit to tell "exactly at" from "over".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.rc.Close()
		return n - 1, b.err
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// ResponseBudget bounds the bytes of the Vault responses that one caller
// (a mount) holds at once: every response is also cut at 8 MiB, but a class
// of 256 distinct reads would otherwise hold 2 GiB.
type ResponseBudget struct {
	limit int64
	flag  string // the setting that raises limit, for the message
	used  atomic.Int64
}

// NewResponseBudget returns a budget of limit bytes; flag names the
// setting that raises it.
func NewResponseBudget(limit int64, flag string) *ResponseBudget {
	return &ResponseBudget{limit: limit, flag: flag}
}

type responseBudgetKey struct{}

// WithResponseBudget returns ctx whose reads charge their response bodies
// to b. A read shared with other callers (see Client.Read) charges the
// budget of the caller that started it.
func WithResponseBudget(ctx context.Context, b *ResponseBudget) context.Context {
	return context.WithValue(ctx, responseBudgetKey{}, b)
}

// charge counts n bytes against ctx's budget, if any.
func charge(ctx context.Context, op string, n int) error {
	b, ok := ctx.Value(responseBudgetKey{}).(*ResponseBudget)
	if !ok || b == nil {
		return nil
	}
	if used := b.used.Add(int64(n)); used > b.limit {
		return newError(ErrResponsesTooLarge, nil, op, fmt.Sprintf(
			"the mount's Vault responses exceed %d bytes (%s): read fewer or smaller secrets", b.limit, b.flag))
	}
	return nil
}
