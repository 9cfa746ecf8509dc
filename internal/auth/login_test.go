package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

// fakeVault counts logins and issues a distinct token for each.
type fakeVault struct {
	cfg    vault.Config
	ttl    time.Duration
	err    error
	logins atomic.Int64
	mu     sync.Mutex
	jwts   []string
}

func (f *fakeVault) Config() vault.Config { return f.cfg }

func (f *fakeVault) Login(_ context.Context, mount, role, jwt string) (vault.Login, error) {
	f.logins.Add(1)
	f.mu.Lock()
	f.jwts = append(f.jwts, jwt)
	f.mu.Unlock()
	if f.err != nil {
		return vault.Login{}, f.err
	}
	return vault.Login{Token: "hvs." + rand.Text(), TTL: f.ttl}, nil
}

func driverTokens(t *testing.T, audience, token string, expiry time.Time) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{audience: map[string]string{
		"token": token, "expirationTimestamp": expiry.UTC().Format(time.RFC3339)}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func baseRequest(t *testing.T) LoginRequest {
	return LoginRequest{
		Pod:          Pod{Name: "web-1", Namespace: "shop", UID: "uid-1", ServiceAccount: "web"},
		Role:         "web",
		AuthMount:    "kubernetes",
		Audience:     "vault",
		DriverTokens: driverTokens(t, "vault", "sa-jwt", time.Now().Add(time.Hour)),
	}
}

func newTestAuthenticator(t *testing.T, size int, requester *TokenRequester) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator(size, requester, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTokenIsReusedForTheSameIdentity(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
	a := newTestAuthenticator(t, 10, nil)
	ctx := context.Background()
	first, err := a.Token(ctx, v, baseRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached {
		t.Error("first token reported as cached")
	}
	second, err := a.Token(ctx, v, baseRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || second.Value != first.Value {
		t.Errorf("second call: got %v (same value: %t), want the cached token", second, second.Value == first.Value)
	}
	if n := v.logins.Load(); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

// TestTokenNeverCrossesIdentities changes one part of the identity at a
// time; each must get a login of its own.
func TestTokenNeverCrossesIdentities(t *testing.T) {
	tests := []struct {
		name   string
		change func(*LoginRequest, *vault.Config)
	}{
		{"other pod name", func(r *LoginRequest, _ *vault.Config) { r.Pod.Name = "web-2" }},
		{"other pod uid", func(r *LoginRequest, _ *vault.Config) { r.Pod.UID = "uid-2" }},
		{"other service account", func(r *LoginRequest, _ *vault.Config) { r.Pod.ServiceAccount = "admin" }},
		{"other namespace", func(r *LoginRequest, _ *vault.Config) { r.Pod.Namespace = "billing" }},
		{"other role", func(r *LoginRequest, _ *vault.Config) { r.Role = "admin" }},
		{"other auth mount", func(r *LoginRequest, _ *vault.Config) { r.AuthMount = "jwt" }},
		{"other audience", func(r *LoginRequest, _ *vault.Config) {
			r.Audience = "other"
			r.DriverTokens = driverTokens(t, "other", "sa-jwt", time.Now().Add(time.Hour))
		}},
		{"other vault address", func(_ *LoginRequest, c *vault.Config) { c.Address = "http://vault-2:8200" }},
		{"other vault namespace", func(_ *LoginRequest, c *vault.Config) { c.Namespace = "team-a" }},
		// The sync controller sends its own pod's name and UID for the
		// SecretSyncs of every namespace: only the namespace and the
		// service account (from the SecretSync) differ.
		{"sync controller: same pod, other namespace, same service account", func(r *LoginRequest, _ *vault.Config) {
			r.Pod.Namespace = "billing"
			r.DriverTokens = driverTokens(t, r.Audience, "sa-jwt-billing", time.Now().Add(time.Hour))
		}},
		{"sync controller: same pod and namespace, other service account", func(r *LoginRequest, _ *vault.Config) {
			r.Pod.ServiceAccount = "reports"
			r.DriverTokens = driverTokens(t, r.Audience, "sa-jwt-reports", time.Now().Add(time.Hour))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthenticator(t, 10, nil)
			cfg := vault.Config{Address: "http://vault:8200"}
			v := &fakeVault{cfg: cfg, ttl: time.Hour}
			base, err := a.Token(context.Background(), v, baseRequest(t))
			if err != nil {
				t.Fatal(err)
			}
			req := baseRequest(t)
			tt.change(&req, &cfg)
			other := &fakeVault{cfg: cfg, ttl: time.Hour}
			got, err := a.Token(context.Background(), other, req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Cached || got.Value == base.Value {
				t.Errorf("token for a different identity came from the cache")
			}
			if n := other.logins.Load(); n != 1 {
				t.Errorf("logins for the other identity = %d, want 1", n)
			}
		})
	}
}

func TestTokenRefreshedAfterTwoThirdsOfTTL(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: 30 * time.Minute}
	a := newTestAuthenticator(t, 10, nil)
	now := time.Now()
	a.now = func() time.Time { return now }
	ctx := context.Background()
	first, err := a.Token(ctx, v, baseRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(19 * time.Minute)
	if got, _ := a.Token(ctx, v, baseRequest(t)); !got.Cached || got.Value != first.Value {
		t.Errorf("at 19 of 30 minutes: want the cached token")
	}
	now = now.Add(2 * time.Minute)
	got, err := a.Token(ctx, v, baseRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Cached || got.Value == first.Value {
		t.Errorf("at 21 of 30 minutes: want a fresh login")
	}
	if n := v.logins.Load(); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
}

func TestInvalidateDropsOnlyTheGivenToken(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
	a := newTestAuthenticator(t, 10, nil)
	ctx := context.Background()
	first, _ := a.Token(ctx, v, baseRequest(t))

	a.Invalidate(v, baseRequest(t), "hvs.some-other-token")
	if got, _ := a.Token(ctx, v, baseRequest(t)); !got.Cached {
		t.Fatal("invalidating another token dropped the cached one")
	}
	a.Invalidate(v, baseRequest(t), first.Value)
	got, _ := a.Token(ctx, v, baseRequest(t))
	if got.Cached || got.Value == first.Value {
		t.Error("invalidated token handed out again")
	}
}

func TestConcurrentRequestsShareOneLogin(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
	a := newTestAuthenticator(t, 10, nil)
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := a.Token(context.Background(), v, baseRequest(t))
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok.Value
		}()
	}
	wg.Wait()
	if n := v.logins.Load(); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("concurrent callers got different tokens")
		}
	}
}

func TestCacheSizeZeroAlwaysLogsIn(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
	a := newTestAuthenticator(t, 0, nil)
	for range 3 {
		if tok, err := a.Token(context.Background(), v, baseRequest(t)); err != nil || tok.Cached {
			t.Fatalf("Token: %v, cached %t", err, tok.Cached)
		}
	}
	if n := v.logins.Load(); n != 3 {
		t.Errorf("logins = %d, want 3", n)
	}
}

func TestLoginFailureIsNotCached(t *testing.T) {
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour, err: vault.ErrPermissionDenied}
	a := newTestAuthenticator(t, 10, nil)
	for range 2 {
		_, err := a.Token(context.Background(), v, baseRequest(t))
		if !errors.Is(err, vault.ErrPermissionDenied) {
			t.Fatalf("err = %v, want ErrPermissionDenied", err)
		}
	}
	if n := v.logins.Load(); n != 2 {
		t.Errorf("logins = %d, want 2 (failures must not be cached)", n)
	}
}

// TestServiceAccountTokenSource checks which token is sent to Vault: the
// driver's when it has one for the audience and it is valid, else one from
// the TokenRequest API.
func TestServiceAccountTokenSource(t *testing.T) {
	tests := []struct {
		name         string
		driverTokens func(t *testing.T) string
		wantJWT      string
		wantRequests int
	}{
		{"driver token for the audience", func(t *testing.T) string {
			return driverTokens(t, "vault", "driver-jwt", time.Now().Add(time.Hour))
		}, "driver-jwt", 0},
		{"no driver tokens", func(*testing.T) string { return "" }, "requested-jwt", 1},
		{"driver token for another audience", func(t *testing.T) string {
			return driverTokens(t, "api", "driver-jwt", time.Now().Add(time.Hour))
		}, "requested-jwt", 1},
		{"expired driver token", func(t *testing.T) string {
			return driverTokens(t, "vault", "driver-jwt", time.Now().Add(-time.Minute))
		}, "requested-jwt", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			var requests atomic.Int64
			client.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
				if action.GetSubresource() != "token" {
					return false, nil, nil
				}
				requests.Add(1)
				tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
				tr.Status.Token = "requested-jwt"
				return true, tr, nil
			})
			v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
			a := newTestAuthenticator(t, 10, NewTokenRequester(kubetest.Clientset{Interface: client}, 10*time.Minute, vaultOnly))
			req := baseRequest(t)
			req.DriverTokens = tt.driverTokens(t)
			if _, err := a.Token(context.Background(), v, req); err != nil {
				t.Fatal(err)
			}
			if len(v.jwts) != 1 || v.jwts[0] != tt.wantJWT {
				t.Errorf("jwt sent to Vault is not %q", tt.wantJWT)
			}
			if n := requests.Load(); n != int64(tt.wantRequests) {
				t.Errorf("TokenRequests = %d, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestNoTokenAndNoKubernetes(t *testing.T) {
	tests := []struct {
		name      string
		requester *TokenRequester
		want      error
		advice    []string
	}{
		{"driver tokens only", nil, ErrNoDriverToken, []string{"-driver-tokens-only", "tokenRequests", `"vault"`}},
		{"no Kubernetes client", NewTokenRequester(nil, time.Hour, vaultOnly), ErrNoKubernetes, []string{"tokenRequests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
			a := newTestAuthenticator(t, 10, tt.requester)
			req := baseRequest(t)
			req.DriverTokens = ""
			_, err := a.Token(context.Background(), v, req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, w := range tt.advice {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if n := v.logins.Load(); n != 0 {
				t.Errorf("logins = %d, want 0", n)
			}
		})
	}
}

// TestDriverTokenForAnyAudience: the audiences the cluster admin put in the
// CSIDriver's tokenRequests are used whatever the TokenRequest policy says,
// even one the API server accepts; only the fallback is limited.
func TestDriverTokenForAnyAudience(t *testing.T) {
	const apiAudience = "https://kubernetes.default.svc"
	client := fake.NewClientset()
	v := &fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}
	a := newTestAuthenticator(t, 10, NewTokenRequester(kubetest.Clientset{Interface: client}, time.Hour,
		AudiencePolicy{Allowed: []string{"vault"}, APIServer: []string{apiAudience}}))
	req := baseRequest(t)
	req.Audience = apiAudience
	req.DriverTokens = driverTokens(t, apiAudience, "driver-jwt", time.Now().Add(time.Hour))
	if _, err := a.Token(context.Background(), v, req); err != nil {
		t.Fatal(err)
	}
	if len(v.jwts) != 1 || v.jwts[0] != "driver-jwt" {
		t.Error("the driver's token was not the one sent to Vault")
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d Kubernetes API calls, want 0", n)
	}
}

// gatedVault holds every login until released, so concurrent logins
// overlap, and then fails a login whose context has ended, as Vault's
// client does.
type gatedVault struct {
	fakeVault
	release chan struct{}
}

func (g *gatedVault) Login(ctx context.Context, mount, role, jwt string) (vault.Login, error) {
	l, err := g.fakeVault.Login(ctx, mount, role, jwt)
	<-g.release
	if ctx.Err() != nil {
		return vault.Login{}, ctx.Err()
	}
	return l, err
}

// TestLoginKeysDoNotCollide: role "a" at mount "b\x00c" and role "a\x00b"
// at mount "c" are two identities. Joined with NUL into one string, they
// shared one concurrent login, and the second got the first's token.
func TestLoginKeysDoNotCollide(t *testing.T) {
	v := &gatedVault{fakeVault: fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}, release: make(chan struct{})}
	a := newTestAuthenticator(t, 10, nil)
	tokens := make(chan string, 2)
	for _, rm := range [][2]string{{"a", "b\x00c"}, {"a\x00b", "c"}} {
		req := baseRequest(t)
		req.Role, req.AuthMount = rm[0], rm[1]
		go func() {
			tok, err := a.Token(context.Background(), v, req)
			if err != nil {
				t.Error(err)
			}
			tokens <- tok.Value
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for v.logins.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(v.release)
	if n := v.logins.Load(); n != 2 {
		t.Errorf("logins = %d, want one per identity (2)", n)
	}
	if t1, t2 := <-tokens, <-tokens; t1 == t2 {
		t.Error("two identities got the same Vault token")
	}
}

// TestLoginWaiterKeepsItsDeadline: a caller that joins another's login and
// whose own context ends gets its context's error at once, while the login
// goes on for the first caller.
func TestLoginWaiterKeepsItsDeadline(t *testing.T) {
	v := &gatedVault{fakeVault: fakeVault{cfg: vault.Config{Address: "http://vault:8200"}, ttl: time.Hour}, release: make(chan struct{})}
	a := newTestAuthenticator(t, 10, nil)
	first, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := a.Token(first, v, baseRequest(t))
		firstErr <- err
	}()
	second := make(chan error, 1)
	go func() {
		_, err := a.Token(context.Background(), v, baseRequest(t))
		second <- err
	}()
	waitForWaitingTokens(t, 2) // both wait on the one login
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) || !errors.Is(err, vault.ErrUnavailable) {
		t.Errorf("first caller: %v, want ErrUnavailable and context.Canceled", err)
	}
	close(v.release)
	if err := <-second; err != nil {
		t.Errorf("second caller inherited the first one's cancellation: %v", err)
	}
	if n := v.logins.Load(); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

// waitForWaitingTokens waits until n goroutines wait in Token for a shared
// login; a condition on goroutine state, not on time.
func waitForWaitingTokens(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 5000 {
		waiting := 0
		for _, g := range strings.Split(string(buf[:goruntime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "auth.(*Authenticator).Token(") && strings.Contains(g, ").Do(") {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d callers ever waited for one login", n)
}
