package vault

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

const issuerURL = "https://kubernetes.default.svc.cluster.local"

// loginCase is shared by the jwt and kubernetes auth tests.
type loginCase struct {
	name    string
	mount   string
	role    string
	jwt     string
	wantErr error
	wantMsg string
}

func runLoginCases(t *testing.T, s *vaulttest.Server, c *Client, cases []loginCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Login(testContext(t), tt.mount, tt.role, tt.jwt)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got.Token == "" || got.Accessor == "" || got.TTL != 10*time.Minute || !got.Renewable {
					t.Errorf("Login = %+v, want a renewable token with a 10m TTL", got)
				}
				// The token is real: it can read what the role's policy allows.
				if _, err := c.Read(testContext(t), got.Token, Request{Method: "GET", Path: "secret/data/app"}); err != nil {
					t.Errorf("reading with the login token: %v", err)
				}
				return
			}
			checkSentinel(t, err, tt.wantErr)
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q should contain %q", err, tt.wantMsg)
			}
			if tt.jwt != "" && strings.Contains(err.Error(), tt.jwt) {
				t.Errorf("error contains the JWT: %q", err)
			}
		})
	}
}

// loginServer starts Vault with a secret and a policy that reads it.
func loginServer(t *testing.T) *vaulttest.Server {
	t.Helper()
	s := vaulttest.StartT(t)
	ctx := testContext(t)
	if _, err := s.Write(ctx, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePolicy(ctx, "app", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	return s
}

func saToken(t *testing.T, iss *vaulttest.JWTIssuer, ns, sa, aud string, ttl time.Duration) string {
	t.Helper()
	tok, err := iss.ServiceAccountToken(ns, sa, "pod-"+sa, "uid-"+sa, aud, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLoginJWTAuth(t *testing.T) {
	s := loginServer(t)
	ctx := testContext(t)
	iss, err := vaulttest.NewJWTIssuer(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	other, err := vaulttest.NewJWTIssuer(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfigureJWTAuth(ctx, "jwt", iss); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteJWTRole(ctx, "jwt", "app", "ns1", "app", 10*time.Minute, "app"); err != nil {
		t.Fatal(err)
	}
	c := testClient(t, Config{Address: s.Addr}, fastRetry)

	runLoginCases(t, s, c, []loginCase{
		{name: "success", mount: "jwt", role: "app", jwt: saToken(t, iss, "ns1", "app", "vault", time.Hour)},
		{name: "mount with slashes", mount: "/jwt/", role: "app", jwt: saToken(t, iss, "ns1", "app", "vault", time.Hour)},
		{
			name: "unknown role", mount: "jwt", role: "nope",
			jwt:     saToken(t, iss, "ns1", "app", "vault", time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: `role "nope" could not be found`,
		},
		{
			name: "signed by another key", mount: "jwt", role: "app",
			jwt:     saToken(t, other, "ns1", "app", "vault", time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: "POST auth/jwt/login: HTTP 400",
		},
		{
			name: "wrong audience", mount: "jwt", role: "app",
			jwt:     saToken(t, iss, "ns1", "app", "other", time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: "audience",
		},
		{
			name: "wrong subject", mount: "jwt", role: "app",
			jwt:     saToken(t, iss, "ns1", "intruder", "vault", time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: "sub",
		},
		{
			name: "expired", mount: "jwt", role: "app",
			jwt:     saToken(t, iss, "ns1", "app", "vault", -time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: "expired",
		},
		{name: "not a JWT", mount: "jwt", role: "app", jwt: "garbage-not-a-jwt", wantErr: ErrPermissionDenied},
		{name: "empty JWT", mount: "jwt", role: "app", jwt: "", wantErr: ErrPermissionDenied, wantMsg: "empty service account token"},
		{name: "empty mount", mount: "", role: "app", jwt: "x.y.z", wantErr: ErrConfig, wantMsg: "empty auth mount"},
	})
}

// tokenReviewer plays the Kubernetes TokenReview API for Vault's kubernetes
// auth method: tokens in valid are authenticated as their service account.
type tokenReviewer struct {
	valid map[string]string // token -> system:serviceaccount:NS:SA
	calls atomic.Int32
}

func (tr *tokenReviewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.NotFound(w, r)
		return
	}
	var review struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status := map[string]any{"authenticated": false}
	if user, ok := tr.valid[review.Spec.Token]; ok {
		status = map[string]any{
			"authenticated": true,
			"user":          map[string]any{"username": user, "uid": serviceAccountUID(review.Spec.Token)},
			"audiences":     review.Spec.Audiences,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenReview",
		"status":     status,
	})
}

// serviceAccountUID reads the UID the API server would know for the token's
// service account; Vault checks that TokenReview reports the same one.
func serviceAccountUID(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Kube struct {
			ServiceAccount struct {
				UID string `json:"uid"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Kube.ServiceAccount.UID
}

func TestLoginKubernetesAuth(t *testing.T) {
	s := loginServer(t)
	ctx := testContext(t)
	iss, err := vaulttest.NewJWTIssuer(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	good := saToken(t, iss, "ns1", "app", "vault", time.Hour)
	otherSA := saToken(t, iss, "ns1", "other", "vault", time.Hour)
	reviewer := &tokenReviewer{valid: map[string]string{
		good:    "system:serviceaccount:ns1:app",
		otherSA: "system:serviceaccount:ns1:other",
	}}
	kube := httptest.NewServer(reviewer)
	t.Cleanup(kube.Close)

	if err := s.EnableAuth(ctx, "kubernetes", "kubernetes"); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		path string
		data map[string]any
	}{
		{"auth/kubernetes/config", map[string]any{
			"kubernetes_host":      kube.URL,
			"kubernetes_ca_cert":   selfSignedPEM(t),
			"disable_local_ca_jwt": true,
			"token_reviewer_jwt":   saToken(t, iss, "kube-system", "vault-reviewer", "https://kubernetes.default.svc", time.Hour),
		}},
		{"auth/kubernetes/role/app", map[string]any{
			"bound_service_account_names":      []string{"app"},
			"bound_service_account_namespaces": []string{"ns1"},
			"audience":                         "vault",
			"token_policies":                   []string{"app"},
			"token_ttl":                        "10m",
		}},
	}
	for _, w := range writes {
		if _, err := s.Write(ctx, w.path, w.data); err != nil {
			t.Fatal(err)
		}
	}
	c := testClient(t, Config{Address: s.Addr}, fastRetry)

	runLoginCases(t, s, c, []loginCase{
		{name: "success", mount: "kubernetes", role: "app", jwt: good},
		{
			name: "token rejected by TokenReview", mount: "kubernetes", role: "app",
			jwt:     saToken(t, iss, "ns1", "app", "vault", 2*time.Hour),
			wantErr: ErrPermissionDenied, wantMsg: "permission denied",
		},
		{
			name: "service account not bound to the role", mount: "kubernetes", role: "app", jwt: otherSA,
			wantErr: ErrPermissionDenied, wantMsg: "service account name not authorized",
		},
		{
			name: "wrong audience", mount: "kubernetes", role: "app",
			jwt:     saToken(t, iss, "ns1", "app", "not-vault", time.Hour),
			wantErr: ErrPermissionDenied,
		},
		{name: "unknown role", mount: "kubernetes", role: "nope", jwt: good, wantErr: ErrPermissionDenied, wantMsg: "invalid role name"},
	})
	if reviewer.calls.Load() == 0 {
		t.Error("Vault never called the TokenReview endpoint")
	}
}
