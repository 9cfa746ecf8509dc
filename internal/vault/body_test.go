package vault

import (
	"net/http"
	"net/http/httptest"
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
			checkSentinel(t, err, ErrBadResponse)
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
