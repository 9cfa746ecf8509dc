package vault

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRequestShape checks what goes on the wire for each method.
func TestRequestShape(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		req       Request
		wantQuery string
		wantBody  map[string]any // nil: no body
		wantNS    string
	}{
		{
			name: "GET with query",
			req:  Request{Method: "GET", Path: "secret/data/db", Query: url.Values{"version": {"3"}}},
			// GET bodies are allowed but none was given.
			wantQuery: "version=3",
		},
		{
			name:      "PUT with query and body",
			req:       Request{Method: "PUT", Path: "pki/issue/web", Query: url.Values{"a": {"1"}, "b": {"x y"}}, Body: map[string]any{"common_name": "a.test"}},
			wantQuery: "a=1&b=x+y",
			wantBody:  map[string]any{"common_name": "a.test"},
		},
		{
			name:     "POST keeps its method",
			req:      Request{Method: "POST", Path: "database/creds/ro", Body: map[string]any{"n": 1.0}},
			wantBody: map[string]any{"n": 1.0},
		},
		{
			name:   "namespace header",
			cfg:    Config{Namespace: "team-a/"},
			req:    Request{Method: "GET", Path: "secret/data/db"},
			wantNS: "team-a/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := fakeVault(t, status(200, okSecret))
			cfg := tt.cfg
			cfg.Address = srv.URL
			c := testClient(t, cfg, fastRetry)
			if _, err := c.Read(testContext(t), testToken, tt.req); err != nil {
				t.Fatal(err)
			}
			r, body := rec.last(t)
			if r.Method != tt.req.Method || r.URL.Path != "/v1/"+tt.req.Path || r.URL.RawQuery != tt.wantQuery {
				t.Errorf("got %s %s?%s, want %s /v1/%s?%s", r.Method, r.URL.Path, r.URL.RawQuery, tt.req.Method, tt.req.Path, tt.wantQuery)
			}
			if got := r.Header.Get("X-Vault-Token"); got != testToken {
				t.Errorf("X-Vault-Token = %q", got)
			}
			if got := r.Header.Get("X-Vault-Namespace"); got != tt.wantNS {
				t.Errorf("X-Vault-Namespace = %q, want %q", got, tt.wantNS)
			}
			if got := r.Header.Get("X-Vault-Request"); got != "true" {
				t.Errorf("X-Vault-Request = %q, want true", got)
			}
			if got := r.Header.Get("X-Vault-Wrap-TTL"); got != "" {
				t.Errorf("X-Vault-Wrap-TTL = %q, want none", got)
			}
			var gotBody map[string]any
			if body != "" {
				if err := json.Unmarshal([]byte(body), &gotBody); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
			}
			if !reflect.DeepEqual(gotBody, tt.wantBody) {
				t.Errorf("body = %v, want %v", gotBody, tt.wantBody)
			}
		})
	}
}

// TestEnvironmentIgnored sets every VAULT_* variable that api.NewClient
// reads and checks that none of them changes a request.
func TestEnvironmentIgnored(t *testing.T) {
	decoy, decoySrv := fakeVault(t, status(200, okSecret))
	rec, srv := fakeVault(t, status(500, `{"errors":["once"]}`), status(200, okSecret), status(200, okSecret))
	env := map[string]string{
		"VAULT_ADDR":           decoySrv.URL,
		"VAULT_AGENT_ADDR":     decoySrv.URL,
		"VAULT_TOKEN":          "hvs.env-token-must-not-leak",
		"VAULT_NAMESPACE":      "env-namespace",
		"VAULT_WRAP_TTL":       "5m",
		"VAULT_HEADERS":        `{"X-Env-Header":"leak"}`,
		"VAULT_MAX_RETRIES":    "0",
		"VAULT_RATE_LIMIT":     "0.01:1", // a second call would wait 100s
		"VAULT_HTTP_PROXY":     decoySrv.URL,
		"VAULT_SRV_LOOKUP":     "true",
		"VAULT_CLIENT_TIMEOUT": "1",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := testClient(t, Config{Address: srv.URL}, fastRetry)
	for range 2 {
		if _, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/db"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := decoy.calls.Load(); n != 0 {
		t.Errorf("the address or proxy from the environment got %d calls", n)
	}
	if n := rec.calls.Load(); n != 3 {
		t.Errorf("Vault saw %d calls, want 3 (VAULT_MAX_RETRIES must not disable retries)", n)
	}
	r, _ := rec.last(t)
	for header, want := range map[string]string{
		"X-Vault-Token": testToken, "X-Vault-Namespace": "", "X-Vault-Wrap-TTL": "", "X-Env-Header": "",
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
}

func TestEnvironmentTLSIgnored(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(status(200, okSecret)))
	t.Cleanup(srv.Close)
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	c := testClient(t, Config{Address: srv.URL}, fastRetry)
	_, err := c.Read(testContext(t), testToken, Request{Method: "GET", Path: "secret/data/db"})
	checkSentinel(t, err, ErrConfig) // not trusted: VAULT_SKIP_VERIFY was ignored
}

func TestUnixSocketAddress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{responses: h(status(200, okSecret))}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	c := testClient(t, Config{Address: "unix://" + sock}, fastRetry)
	for _, method := range []string{"GET", "PUT"} {
		secret, err := c.Read(testContext(t), testToken, Request{Method: method, Path: "secret/data/db", Query: url.Values{"q": {"1"}}})
		if err != nil {
			t.Fatalf("%s over unix socket: %v", method, err)
		}
		if secret.Data["password"] != "p4ss" {
			t.Errorf("data = %v", secret.Data)
		}
		r, _ := rec.last(t)
		if r.Method != method || r.URL.Path != "/v1/secret/data/db" || r.URL.RawQuery != "q=1" {
			t.Errorf("got %s %s", r.Method, r.URL)
		}
	}
}

func TestBadRequests(t *testing.T) {
	rec, srv := fakeVault(t, status(200, okSecret))
	c := testClient(t, Config{Address: srv.URL}, fastRetry)
	tests := []struct {
		name    string
		token   string
		req     Request
		wantErr error
	}{
		{name: "lower-case method", token: testToken, req: Request{Method: "get", Path: "a"}},
		{name: "empty path", token: testToken, req: Request{Method: "GET"}},
		{name: "body that is not JSON", token: testToken, req: Request{Method: "PUT", Path: "a", Body: map[string]any{"c": make(chan int)}}},
		{name: "token with a newline", token: "hvs.abc\ndef", req: Request{Method: "GET", Path: "a"}, wantErr: ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Read(testContext(t), tt.token, tt.req)
			checkSentinel(t, err, tt.wantErr)
		})
	}
	if n := rec.calls.Load(); n != 0 {
		t.Errorf("invalid requests reached Vault %d times", n)
	}
}
