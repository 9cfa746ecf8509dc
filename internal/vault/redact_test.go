package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// echo plays a careless server that repeats the token, the body and the
// secret data in its answers.
func echo(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg, _ := json.Marshal(map[string]any{
			"errors": []string{fmt.Sprintf("token %s rejected, body %s, data s3cr3t-response-data", r.Header.Get("X-Vault-Token"), body)},
		})
		w.WriteHeader(code)
		_, _ = w.Write(msg)
	}
}

// TestSecretsNeverInErrors runs every failure path and checks that neither
// the token nor response data shows up in the error.
func TestSecretsNeverInErrors(t *testing.T) {
	const responseSecret = "s3cr3t-response-data"
	hang := func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client leaving only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	tests := []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request)
		addr    string
		timeout time.Duration
	}{
		{name: "403 echoing the token", handler: echo(403)},
		{name: "500 echoing the token", handler: echo(500)},
		{name: "400 echoing the token", handler: echo(400)},
		{name: "non-JSON 200 with data", handler: status(200, "password="+responseSecret+" token")},
		{name: "JSON array with data", handler: status(200, `["`+responseSecret+`"]`)},
		{name: "plain-text 502 echoing", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = fmt.Fprintf(w, "upstream said no to %s", r.Header.Get("X-Vault-Token"))
		}},
		{name: "hang", handler: hang, timeout: 100 * time.Millisecond},
		{name: "connection refused", addr: refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if tt.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(tt.handler))
				t.Cleanup(srv.Close)
				addr = srv.URL
			}
			c := testClient(t, Config{Address: addr}, fastRetry)
			ctx := testContext(t)
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			req := Request{Method: "PUT", Path: "db/creds/x", Body: map[string]any{"arg": "body-secret-arg"}}
			_, err := c.Read(ctx, testToken, req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(text, testToken) {
					t.Errorf("error contains the token: %s", text)
				}
			}
			if tt.handler != nil && strings.Contains(err.Error(), responseSecret) && !strings.Contains(tt.name, "echoing") {
				t.Errorf("error contains response data: %s", err)
			}
			var re *api.ResponseError
			if errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), testToken) {
				t.Errorf("wrapped ResponseError contains the token: %v", re.Errors)
			}

			// Login: the JWT must not leak either.
			const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNlY3JldA"
			_, err = c.Login(ctx, "kubernetes", "app", jwt)
			if err == nil {
				t.Fatal("login: no error")
			}
			if strings.Contains(err.Error(), jwt) || strings.Contains(fmt.Sprintf("%#v", err), jwt) {
				t.Errorf("login error contains the JWT: %s", err)
			}
		})
	}
}
