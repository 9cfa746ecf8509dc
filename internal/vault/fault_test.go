package vault

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFaults covers what a real Vault cannot easily be made to do.
func TestFaults(t *testing.T) {
	html := "<html><body>" + strings.Repeat("Bad Gateway ", 100) + "</body></html>"
	tests := []struct {
		name      string
		responses []func(http.ResponseWriter, *http.Request)
		wantCalls int32
		wantErr   error // nil: success unless wantMsg is set
		wantMsg   string
	}{
		{name: "500 then 200 is retried", responses: h(status(500, `{"errors":["internal"]}`), status(200, okSecret)), wantCalls: 2},
		{name: "429 then 200 is retried", responses: h(status(429, `{"errors":["rate limited"]}`), status(200, okSecret)), wantCalls: 2},
		{name: "412 then 200 is retried", responses: h(status(412, `{"errors":["index not yet replicated"]}`), status(200, okSecret)), wantCalls: 2},
		{
			name:      "sealed until retries run out",
			responses: h(status(503, `{"errors":["Vault is sealed"]}`)),
			wantCalls: int32(fastRetry.MaxRetries + 1),
			wantErr:   ErrUnavailable, wantMsg: "GET secret/data/x: HTTP 503: Vault is sealed",
		},
		{
			name:      "proxy HTML error is bounded",
			responses: h(status(502, html)),
			wantCalls: int32(fastRetry.MaxRetries + 1),
			wantErr:   ErrUnavailable, wantMsg: "HTTP 502: <html><body>Bad Gateway",
		},
		{name: "501 is not retried", responses: h(status(501, `{"errors":["no"]}`)), wantCalls: 1, wantErr: ErrUnavailable},
		{name: "400 is not retried", responses: h(status(400, `{"errors":["bad input"]}`)), wantCalls: 1, wantErr: ErrBadRequest, wantMsg: "HTTP 400: bad input"},
		{name: "401 is not retried", responses: h(status(401, `{"errors":["no token"]}`)), wantCalls: 1, wantErr: ErrPermissionDenied},
		{name: "403 is not retried", responses: h(status(403, `{"errors":["permission denied"]}`)), wantCalls: 1, wantErr: ErrPermissionDenied, wantMsg: "HTTP 403: permission denied"},
		{name: "404 with no errors", responses: h(status(404, `{"errors":[]}`)), wantCalls: 1, wantErr: ErrNotFound, wantMsg: "GET secret/data/x: HTTP 404"},
		{name: "404 with empty body", responses: h(status(404, "")), wantCalls: 1, wantErr: ErrNotFound},
		{name: "empty 200 body", responses: h(status(200, "")), wantCalls: 1, wantErr: ErrBadResponse, wantMsg: "empty response body"},
		{name: "whitespace 200 body", responses: h(status(200, " \n")), wantCalls: 1, wantErr: ErrBadResponse},
		{name: "204 no content", responses: h(status(204, "")), wantCalls: 1, wantErr: ErrBadResponse, wantMsg: "HTTP 204"},
		{name: "non-JSON 200", responses: h(status(200, "hello, not json")), wantCalls: 1, wantErr: ErrBadResponse, wantMsg: "not a Vault JSON response"},
		{name: "JSON array", responses: h(status(200, `[1,2]`)), wantCalls: 1, wantErr: ErrBadResponse},
		{name: "JSON null", responses: h(status(200, `null`)), wantCalls: 1, wantErr: ErrBadResponse},
		{name: "only errors in a 200", responses: h(status(200, `{"errors":["odd"]}`)), wantCalls: 1, wantErr: ErrBadResponse},
		{
			name:      "no data but warnings",
			responses: h(status(200, `{"request_id":"1","data":null,"warnings":["endpoint is deprecated"]}`)),
			wantCalls: 1, wantErr: ErrBadResponse, wantMsg: "no data (warnings: endpoint is deprecated)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := fakeVault(t, tt.responses...)
			c := testClient(t, Config{Address: srv.URL}, fastRetry)
			secret, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
			if got := rec.calls.Load(); got != tt.wantCalls {
				t.Errorf("Vault saw %d calls, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if secret.Data["password"] != "p4ss" {
					t.Errorf("data = %v", secret.Data)
				}
				return
			}
			checkSentinel(t, err, tt.wantErr)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q should contain %q", err, tt.wantMsg)
			}
			if len(err.Error()) > 2*maxErrorText {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func h(fs ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return fs
}

func TestHangingVaultStopsAtDeadline(t *testing.T) {
	release := make(chan struct{})
	rec, srv := fakeVault(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before srv.Close, which waits for handlers
	c := testClient(t, Config{Address: srv.URL}, fastRetry)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Read took %s after a 200ms deadline", elapsed)
	}
	checkSentinel(t, err, ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%q, context.DeadlineExceeded) = false", err)
	}
	if got := rec.calls.Load(); got != 1 {
		t.Errorf("Vault saw %d calls, want 1", got)
	}
}

func TestCanceledDuringBackoff(t *testing.T) {
	_, srv := fakeVault(t, status(503, `{"errors":["Vault is sealed"]}`))
	slow := RetryPolicy{MaxRetries: 5, MinWait: time.Minute, MaxWait: time.Minute}
	c := testClient(t, Config{Address: srv.URL}, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
	checkSentinel(t, err, ErrUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%q, context.Canceled) = false", err)
	}
}

// A wait that would end past the caller's deadline is not started: the
// caller hears Vault's answer at once rather than a timeout later.
func TestNoWaitPastTheDeadline(t *testing.T) {
	_, srv := fakeVault(t, status(503, `{"errors":["Vault is sealed"]}`))
	slow := RetryPolicy{MaxRetries: 5, MinWait: time.Minute, MaxWait: time.Minute}
	c := testClient(t, Config{Address: srv.URL}, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Read(ctx, testToken, Request{Method: "GET", Path: "secret/data/x"})
	checkSentinel(t, err, ErrUnavailable)
	if want := "HTTP 503: Vault is sealed (not retried: the next try, in "; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q should contain %q", err, want)
	}
	if ctx.Err() != nil {
		t.Error("the read returned only at the deadline")
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := testClient(t, Config{Address: "http://" + addr}, fastRetry)
	_, err = c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/x"})
	checkSentinel(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q should say connection refused", err)
	}
}

func TestLoginFaults(t *testing.T) {
	tests := []struct {
		name      string
		responses []func(http.ResponseWriter, *http.Request)
		wantCalls int32
		wantErr   error
		wantMsg   string
	}{
		{
			name: "retried then success",
			responses: h(status(500, `{"errors":["try again"]}`),
				status(200, `{"auth":{"client_token":"hvs.new","accessor":"acc","lease_duration":600,"renewable":true}}`)),
			wantCalls: 2,
		},
		{name: "no auth block", responses: h(status(200, okSecret)), wantCalls: 1, wantErr: ErrBadResponse, wantMsg: "no auth block"},
		{name: "auth without token", responses: h(status(200, `{"auth":{"client_token":""}}`)), wantCalls: 1, wantErr: ErrBadResponse},
		{name: "400 is a denial", responses: h(status(400, `{"errors":["invalid role name \"x\""]}`)), wantCalls: 1, wantErr: ErrPermissionDenied, wantMsg: `invalid role name "x"`},
		{name: "sealed", responses: h(status(503, `{"errors":["Vault is sealed"]}`)), wantCalls: int32(fastRetry.MaxRetries + 1), wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := fakeVault(t, tt.responses...)
			c := testClient(t, Config{Address: srv.URL}, fastRetry)
			got, err := c.Login(testContext(t), "kubernetes", "app", "header.payload.signature")
			if n := rec.calls.Load(); n != tt.wantCalls {
				t.Errorf("Vault saw %d calls, want %d", n, tt.wantCalls)
			}
			if tt.wantErr == nil {
				want := Login{Token: "hvs.new", Accessor: "acc", TTL: 10 * time.Minute, Renewable: true}
				if err != nil || got != want {
					t.Fatalf("Login = %+v, %v; want %+v", got, err, want)
				}
				return
			}
			checkSentinel(t, err, tt.wantErr)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q should contain %q", err, tt.wantMsg)
			}
		})
	}
}
