package vault

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// readFixture is a real dev server with KV v2, KV v1 and PKI content, and
// tokens with and without a policy.
type readFixture struct {
	server       *vaulttest.Server
	client       *Client
	readerToken  string
	noAuthzToken string
}

func newReadFixture(t *testing.T) *readFixture {
	t.Helper()
	s := vaulttest.StartT(t)
	ctx := testContext(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, data map[string]any) {
		t.Helper()
		_, err := s.Write(ctx, path, data)
		must(err)
	}

	write("secret/data/db", map[string]any{"data": map[string]any{"password": "one"}})
	write("secret/data/db", map[string]any{"data": map[string]any{"password": "two"}})
	write("secret/data/gone", map[string]any{"data": map[string]any{"password": "x"}})
	_, err := s.API().Logical().DeleteWithContext(ctx, "secret/data/gone")
	must(err)

	must(s.Mount(ctx, "kv1", "kv", map[string]string{"version": "1"}))
	write("kv1/app", map[string]any{"user": "u1"})

	must(s.Mount(ctx, "pki", "pki", nil))
	write("pki/root/generate/internal", map[string]any{"common_name": "example.test", "ttl": "24h"})
	write("pki/roles/web", map[string]any{"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h"})

	must(s.WritePolicy(ctx, "reader", `
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["update"] }
`))
	newToken := func(policies ...string) string {
		t.Helper()
		secret, err := s.API().Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: policies})
		must(err)
		return secret.Auth.ClientToken
	}
	return &readFixture{
		server:       s,
		client:       testClient(t, Config{Address: s.Addr}, fastRetry),
		readerToken:  newToken("reader"),
		noAuthzToken: newToken("default"),
	}
}

func TestReadAgainstVault(t *testing.T) {
	f := newReadFixture(t)
	issue := map[string]any{"common_name": "a.example.test", "ttl": "10m"}

	tests := []struct {
		name    string
		token   string
		req     Request
		wantErr error // sentinel; nil with wantMsg set means an unclassified error
		wantMsg string
		check   func(t *testing.T, data map[string]any)
	}{
		{
			name:  "KV v2 latest",
			req:   Request{Method: "GET", Path: "secret/data/db"},
			check: wantKV2(map[string]any{"password": "two"}),
		},
		{
			name:  "KV v2 version query",
			req:   Request{Method: "GET", Path: "secret/data/db", Query: url.Values{"version": {"1"}}},
			check: wantKV2(map[string]any{"password": "one"}),
		},
		{
			name:  "KV v1",
			req:   Request{Method: "GET", Path: "kv1/app"},
			check: wantField("user", "u1"),
		},
		{
			name:  "PUT with body issues a certificate",
			req:   Request{Method: "PUT", Path: "pki/issue/web", Body: issue},
			check: wantCertificate,
		},
		{
			name:  "POST behaves like PUT",
			req:   Request{Method: "POST", Path: "pki/issue/web", Body: issue},
			check: wantCertificate,
		},
		{
			// Vault answers ?help=1 with the endpoint's help text instead of
			// issuing, which proves the query string reached it on a PUT.
			name:  "PUT sends the query string",
			token: "root",
			req:   Request{Method: "PUT", Path: "pki/issue/web", Query: url.Values{"help": {"1"}}, Body: issue},
			check: func(t *testing.T, data map[string]any) {
				if _, ok := data["help"]; !ok || data["certificate"] != nil {
					t.Errorf("want the help text, got keys %v", keys(data))
				}
			},
		},
		{
			name:    "PUT rejected by the role is a 400 with Vault's message",
			req:     Request{Method: "PUT", Path: "pki/issue/web", Body: map[string]any{"common_name": "evil.test"}},
			wantErr: ErrBadRequest,
			wantMsg: "common name evil.test not allowed",
		},
		{name: "KV v2 missing", req: Request{Method: "GET", Path: "secret/data/nope"}, wantErr: ErrNotFound, wantMsg: "secret/data/nope"},
		{name: "KV v2 deleted", req: Request{Method: "GET", Path: "secret/data/gone"}, wantErr: ErrNotFound, wantMsg: "secret/data/gone"},
		{name: "KV v2 missing version", req: Request{Method: "GET", Path: "secret/data/db", Query: url.Values{"version": {"9"}}}, wantErr: ErrNotFound},
		{name: "KV v1 missing", req: Request{Method: "GET", Path: "kv1/nope"}, wantErr: ErrNotFound, wantMsg: "kv1/nope"},
		{
			name:    "token without policy",
			token:   f.noAuthzToken,
			req:     Request{Method: "GET", Path: "secret/data/db"},
			wantErr: ErrPermissionDenied,
			wantMsg: "permission denied",
		},
		{
			name:    "bad token",
			token:   "hvs.not-a-real-token-at-all",
			req:     Request{Method: "GET", Path: "secret/data/db"},
			wantErr: ErrPermissionDenied,
		},
		{name: "unsupported method", req: Request{Method: "DELETE", Path: "secret/data/db"}, wantMsg: "unsupported method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" {
				token = f.readerToken
			}
			secret, err := f.client.Read(testContext(t), token, tt.req)
			if tt.check != nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, secret.Data)
				return
			}
			checkSentinel(t, err, tt.wantErr)
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.req.Method+" "+tt.req.Path) {
				t.Errorf("error %q should name %s %s and contain %q", err, tt.req.Method, tt.req.Path, tt.wantMsg)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

// TestConcurrentTokens shares one client between readers with different
// tokens: each call must use its own token.
func TestConcurrentTokens(t *testing.T) {
	f := newReadFixture(t)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := f.readerToken
			if i%2 == 1 {
				token = f.noAuthzToken
			}
			_, err := f.client.Read(ctx, token, Request{Method: "GET", Path: "secret/data/db"})
			if (err == nil) != (i%2 == 0) {
				t.Errorf("reader %d: unexpected result %v", i, err)
			}
		}()
	}
	wg.Wait()
}

func wantKV2(want map[string]any) func(*testing.T, map[string]any) {
	return func(t *testing.T, data map[string]any) {
		t.Helper()
		inner, ok := data["data"].(map[string]any)
		if !ok {
			t.Fatalf("no data.data in %v", keys(data))
		}
		for k, v := range want {
			if inner[k] != v {
				t.Errorf("data.data[%q] = %v, want %v", k, inner[k], v)
			}
		}
	}
}

func wantField(key, want string) func(*testing.T, map[string]any) {
	return func(t *testing.T, data map[string]any) {
		t.Helper()
		if data[key] != want {
			t.Errorf("data[%q] = %v, want %q", key, data[key], want)
		}
	}
}

func wantCertificate(t *testing.T, data map[string]any) {
	t.Helper()
	cert, _ := data["certificate"].(string)
	if !strings.HasPrefix(cert, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("no certificate in response keys %v", keys(data))
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A cluster listed by address, of which one refuses connections and one
// is a real sealed Vault: the read moves past both.
func TestSeveralAddressesAgainstVault(t *testing.T) {
	f := newReadFixture(t)
	sealed := vaulttest.StartT(t)
	ctx := testContext(t)
	if err := sealed.API().Sys().SealWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	addrs := strings.Join([]string{refusedAddress(t), sealed.Addr, f.server.Addr}, ",")
	c := testClient(t, Config{Address: addrs}, slowRetry)
	for range 2 {
		secret, err := c.Read(ctx, f.readerToken, Request{Method: "GET", Path: "secret/data/db"})
		if err != nil {
			t.Fatal(err)
		}
		wantKV2(map[string]any{"password": "two"})(t, secret.Data)
	}
	// With only the sealed one left, Vault's own answer is the error.
	c = testClient(t, Config{Address: sealed.Addr}, fastRetry)
	_, err := c.Read(ctx, f.readerToken, Request{Method: "GET", Path: "secret/data/db"})
	checkSentinel(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "HTTP 503: Vault is sealed") {
		t.Errorf("error %q should say Vault is sealed", err)
	}
}
