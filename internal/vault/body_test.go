package vault

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// hugeBody streams 256 MiB (generated, never held in memory) after the
// given status and counts the bytes the connection accepted.
func hugeBody(t *testing.T, code int) (written *atomic.Int64, done <-chan struct{}, url string) {
	t.Helper()
	const total = 256 << 20
	written = new(atomic.Int64)
	finished := make(chan struct{}, 1)
	chunk := []byte(strings.Repeat("x", 32<<10))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		defer func() { finished <- struct{}{} }()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if n, err := w.Write([]byte(`{"errors":["`)); err != nil || n == 0 {
			return
		}
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	srv.Config.ErrorLog = discardLog()
	srv.Start()
	t.Cleanup(srv.Close)
	return written, finished, srv.URL
}

// TestHugeBodiesAreCutOff: a body past its limit fails the call with a
// clear error and drops the connection, whatever the status; before, a 403
// body was read whole by the api client.
func TestHugeBodiesAreCutOff(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		limit int
	}{
		{name: "403", code: http.StatusForbidden, limit: maxErrorBytes},
		{name: "404", code: http.StatusNotFound, limit: maxErrorBytes},
		{name: "200", code: http.StatusOK, limit: maxResponseBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			written, done, url := hugeBody(t, tt.code)
			c := testClient(t, Config{Address: url}, fastRetry)
			_, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
			checkSentinel(t, err, ErrResponsesTooLarge)
			if want := "larger than"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v should say the body is %s the limit", err, want)
			}
			if err != nil && len(err.Error()) > 2*maxErrorText {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
			<-done // the handler ends once a write fails on the dropped connection
			// Socket buffers on both sides absorb a few MiB beyond the limit.
			if got, bound := written.Load(), int64(tt.limit)+16<<20; got > bound {
				t.Errorf("the server wrote %d bytes before the connection dropped, want at most %d", got, bound)
			}
		})
	}
}

func TestResponseBudget(t *testing.T) {
	_, srv := fakeVault(t, status(200, okSecret))
	c := testClient(t, Config{Address: srv.URL}, fastRetry)
	// Room for one response of okSecret's size, not two.
	ctx := WithResponseBudget(testContext(t), NewResponseBudget(int64(len(okSecret))+10, "-max-response-bytes"))
	if _, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/one"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/two"})
	checkSentinel(t, err, ErrResponsesTooLarge)
	if want := "GET secret/data/two: the mount's Vault responses exceed"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q should contain %q", err, want)
	}
	// Without a budget nothing is counted.
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/two"}); err != nil {
		t.Fatal(err)
	}
}

// hugeHeaders answers every request with the response text given, written
// as is on the hijacked connection, and counts the requests.
func hugeHeaders(t *testing.T, response []byte) (requests *atomic.Int32, url string) {
	t.Helper()
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = conn.Write(response) // fails once the client drops the connection
	}))
	t.Cleanup(srv.Close)
	return requests, srv.URL
}

// TestHugeHeadersAreRefused: a response whose headers (or those of a 1xx
// response before it) pass 64 KiB fails the call at once with a clear
// error, whatever its status, and the client holds no more of them than
// the limit: about 1 MiB of small headers, which net/http's default limit
// of 10 MiB took whole into a header map, allocate less than that.
func TestHugeHeadersAreRefused(t *testing.T) {
	var pad strings.Builder
	for i := 0; pad.Len() < 1<<20; i++ {
		fmt.Fprintf(&pad, "X-Pad-%06d: %s\r\n", i, strings.Repeat("v", 16))
	}
	const body = `{"data":{"k":"v"}}`
	final := func(code int) string {
		return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
			code, http.StatusText(code), len(body))
	}
	tests := []struct {
		name     string
		response string
	}{
		{"200", final(200) + pad.String() + "\r\n" + body},
		{"403", final(403) + pad.String() + "\r\n" + body},
		{"503", final(503) + pad.String() + "\r\n" + body},
		{"103 before 200", "HTTP/1.1 103 Early Hints\r\n" + pad.String() + "\r\n" + final(200) + "\r\n" + body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requests, url := hugeHeaders(t, []byte(tt.response))
			c := testClient(t, Config{Address: url}, fastRetry)
			ctx := testContext(t)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
			runtime.ReadMemStats(&after)

			checkSentinel(t, err, ErrResponsesTooLarge)
			if want := "GET secret/data/x: response headers larger than 65536 bytes"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q should contain %q", err, want)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: headers past the limit are not worth a retry", n)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got >= uint64(pad.Len()) {
				t.Errorf("the call allocated %d bytes for %d bytes of headers", got, pad.Len())
			}
		})
	}
}

// Over HTTP/2 the transport advertises the limit and drops a connection
// whose headers pass it by far, with a bare PROTOCOL_ERROR that cannot be
// told from others (x/net/http2 stops parsing them), so only the refusal
// is asserted: the default limit took the headers whole.
func TestHugeHeadersAreRefusedOverHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
		for i := range 1 << 20 / 32 {
			w.Header().Set(fmt.Sprintf("X-Pad-%06d", i), strings.Repeat("v", 16))
		}
		status(200, okSecret)(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := testClient(t, Config{Address: srv.URL, SkipVerify: true}, fastRetry)
	if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"}); err == nil {
		t.Fatal("1 MiB of headers accepted over HTTP/2")
	}
}
