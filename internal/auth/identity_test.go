package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

const secretLooking = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"

func TestParseDriverTokens(t *testing.T) {
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		raw  string
		want map[string]SAToken
	}{
		{"empty", "", map[string]SAToken{}},
		{"blank", "  \n", map[string]SAToken{}},
		{"empty object", "{}", map[string]SAToken{}},
		{"null", "null", map[string]SAToken{}},
		{
			"one audience",
			`{"vault":{"token":"tok-a","expirationTimestamp":"2024-01-01T00:00:00Z"}}`,
			map[string]SAToken{"vault": {Token: "tok-a", Expiry: t1}},
		},
		{
			"several audiences",
			`{"vault":{"token":"tok-a","expirationTimestamp":"2024-01-01T00:00:00Z"},` +
				`"other":{"token":"tok-b","expirationTimestamp":"2024-06-01T12:30:00Z"}}`,
			map[string]SAToken{"vault": {Token: "tok-a", Expiry: t1}, "other": {Token: "tok-b", Expiry: t2}},
		},
		{
			"missing expiration gives zero time",
			`{"vault":{"token":"tok-a"}}`,
			map[string]SAToken{"vault": {Token: "tok-a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDriverTokens(tt.raw)
			if err != nil {
				t.Fatalf("ParseDriverTokens: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDriverTokensErrors(t *testing.T) {
	tests := []struct {
		name, raw, wantMsg string
	}{
		{"malformed JSON", `{"vault":{"token":"` + secretLooking + `"`, "invalid JSON"},
		{"token unquoted", `{"vault":{"token":` + secretLooking + `}}`, "invalid JSON"},
		{"not an object", `"` + secretLooking + `"`, "unexpected JSON string"},
		{"entry not an object", `{"vault":"` + secretLooking + `"}`, "unexpected JSON string"},
		{"token not a string", `{"vault":{"token":["` + secretLooking + `"]}}`, "unexpected JSON array"},
		{"bad timestamp", `{"vault":{"token":"` + secretLooking + `","expirationTimestamp":"tomorrow"}}`, "expirationTimestamp"},
		{"empty token", `{"vault":{"token":"","expirationTimestamp":"2024-01-01T00:00:00Z"}}`, "no token"},
		{"null entry", `{"vault":null}`, "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDriverTokens(tt.raw)
			if err == nil {
				t.Fatalf("ParseDriverTokens = %v, want an error", got)
			}
			if !errors.Is(err, ErrMalformedTokens) {
				t.Errorf("error %q does not wrap ErrMalformedTokens", err)
			}
			if strings.Contains(err.Error(), secretLooking) || strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error echoes the token: %q", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestSATokenRedacted(t *testing.T) {
	tok := SAToken{Token: secretLooking, Expiry: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, tok)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &tok)
	}
	outputs["in a struct"] = fmt.Sprintf("%+v", struct{ T SAToken }{tok})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("login", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("login", "token", tok)
	outputs["slog"] = buf.String()

	for name, out := range outputs {
		if strings.Contains(out, secretLooking) {
			t.Errorf("%s leaks the token: %s", name, out)
		}
	}
	if !strings.Contains(outputs["%v"], "REDACTED") || !strings.Contains(outputs["%v"], "2024-01-01") {
		t.Errorf("%%v = %q, want redacted token and expiry", outputs["%v"])
	}
	if !strings.Contains(outputs["slog"], "token.token=REDACTED") {
		t.Errorf("slog output lacks the redacted token group: %s", outputs["slog"])
	}
}

// vaultOnly is the default -allowed-audiences.
var vaultOnly = AudiencePolicy{Allowed: []string{"vault"}}

var testPod = Pod{Name: "web-0", Namespace: "shop", UID: "uid-123", ServiceAccount: "web"}

func TestTokenRequesterRequest(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		ttl         time.Duration
		wantSeconds int64
	}{
		{"ttl below the minimum is raised", time.Minute, 600},
		{"zero ttl is raised", 0, 600},
		{"ttl kept", time.Hour, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			var got *authenticationv1.TokenRequest
			var gotSA, gotNS string
			client.PrependReactor("create", "serviceaccounts/token", func(a k8stesting.Action) (bool, runtime.Object, error) {
				ca := a.(k8stesting.CreateAction)
				got = ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
				gotSA = a.(k8stesting.CreateActionImpl).Name
				gotNS = a.GetNamespace()
				resp := got.DeepCopy()
				resp.Status = authenticationv1.TokenRequestStatus{Token: secretLooking, ExpirationTimestamp: metav1.NewTime(exp)}
				return true, resp, nil
			})

			tok, err := NewTokenRequester(kubetest.Clientset{Interface: client}, tt.ttl, vaultOnly).Request(context.Background(), testPod, "vault")
			if err != nil {
				t.Fatalf("Request: %v", err)
			}
			if diff := cmp.Diff(SAToken{Token: secretLooking, Expiry: exp}, tok); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if gotNS != "shop" || gotSA != "web" {
				t.Errorf("token requested for %s/%s, want shop/web", gotNS, gotSA)
			}
			seconds := tt.wantSeconds
			want := authenticationv1.TokenRequestSpec{
				Audiences:         []string{"vault"},
				ExpirationSeconds: &seconds,
				BoundObjectRef: &authenticationv1.BoundObjectReference{
					Kind: "Pod", APIVersion: "v1", Name: "web-0", UID: "uid-123",
				},
			}
			if diff := cmp.Diff(want, got.Spec); diff != "" {
				t.Errorf("TokenRequest spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenRequesterErrors(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "web", errors.New("no RBAC"))

	t.Run("forbidden is wrapped with context", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("create", "serviceaccounts/token", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, forbidden
		})
		_, err := NewTokenRequester(kubetest.Clientset{Interface: client}, time.Hour, vaultOnly).Request(context.Background(), testPod, "vault")
		if !apierrors.IsForbidden(err) || !errors.Is(err, forbidden) {
			t.Fatalf("err = %v, want a wrapped Forbidden", err)
		}
		if !strings.Contains(err.Error(), "shop/web") {
			t.Errorf("error %q lacks namespace/service account", err)
		}
	})

	t.Run("empty token in response", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("create", "serviceaccounts/token", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, &authenticationv1.TokenRequest{}, nil
		})
		if _, err := NewTokenRequester(kubetest.Clientset{Interface: client}, time.Hour, vaultOnly).Request(context.Background(), testPod, "vault"); err == nil {
			t.Fatal("Request succeeded with an empty token")
		}
	})

	t.Run("nil client", func(t *testing.T) {
		_, err := NewTokenRequester(nil, time.Hour, vaultOnly).Request(context.Background(), testPod, "vault")
		if !errors.Is(err, ErrNoKubernetes) {
			t.Fatalf("err = %v, want ErrNoKubernetes", err)
		}
		for _, want := range []string{"tokenRequests", "in-cluster", `"vault"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
	})

	invalid := []struct {
		name     string
		pod      Pod
		audience string
	}{
		{"empty audience", testPod, ""},
		{"pod without UID", Pod{Name: "web-0", Namespace: "shop", ServiceAccount: "web"}, "vault"},
		{"pod without service account", Pod{Name: "web-0", Namespace: "shop", UID: "u"}, "vault"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if _, err := NewTokenRequester(kubetest.Clientset{Interface: client}, time.Hour, vaultOnly).Request(context.Background(), tt.pod, tt.audience); err == nil {
				t.Fatal("Request succeeded, want an error")
			}
			if n := len(client.Actions()); n != 0 {
				t.Errorf("made %d API calls for an invalid request, want 0", n)
			}
		})
	}
}

// TestTokenRequesterAudiencePolicy: the fallback asks the API server only
// for allowed audiences, and never for one the API server accepts, even if
// allowed; a refusal makes no API call and names the flag.
func TestTokenRequesterAudiencePolicy(t *testing.T) {
	const apiAudience = "https://kubernetes.default.svc.cluster.local"
	tests := []struct {
		name     string
		policy   AudiencePolicy
		audience string
		want     string // "" = requested; else a substring of the refusal
	}{
		{"allowed", AudiencePolicy{Allowed: []string{"vault", "custom"}}, "custom", ""},
		{"not allowed", vaultOnly, "custom", "-allowed-audiences (vault)"},
		{"nothing allowed", AudiencePolicy{}, "vault", "-allowed-audiences ()"},
		{"the API server's, not allowed", AudiencePolicy{Allowed: []string{"vault"}, APIServer: []string{apiAudience}}, apiAudience, "API server accepts"},
		{"the API server's, even if allowed", AudiencePolicy{Allowed: []string{"vault", apiAudience}, APIServer: []string{"api", apiAudience}}, apiAudience, "API server accepts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("create", "serviceaccounts/token", func(a k8stesting.Action) (bool, runtime.Object, error) {
				tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
				tr.Status.Token = secretLooking
				return true, tr, nil
			})
			_, err := NewTokenRequester(kubetest.Clientset{Interface: client}, time.Hour, tt.policy).Request(context.Background(), testPod, tt.audience)
			if tt.want == "" {
				if err != nil || len(client.Actions()) != 1 {
					t.Fatalf("err = %v after %d API calls, want one request", err, len(client.Actions()))
				}
				return
			}
			if !errors.Is(err, ErrAudienceRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrAudienceRefused mentioning %q", err, tt.want)
			}
			if n := len(client.Actions()); n != 0 {
				t.Errorf("%d API calls for a refused audience, want 0", n)
			}
		})
	}
}

func TestAPIServerAudiences(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	tests := []struct {
		name    string
		content string // "-" = no file
		want    []string
		wantErr error
	}{
		{"aud array", jwt(`{"aud":["https://kubernetes.default.svc.cluster.local","k3s"],"sub":"system:serviceaccount:csi:p"}`) + "\n",
			[]string{"https://kubernetes.default.svc.cluster.local", "k3s"}, nil},
		{"aud string", jwt(`{"aud":"api"}`), []string{"api"}, nil},
		{"no aud", jwt(`{"sub":"x"}`), nil, ErrBadTokenFile},
		{"empty aud in array", jwt(`{"aud":[""]}`), nil, ErrBadTokenFile},
		{"not a JWT", "hello", nil, ErrBadTokenFile},
		{"payload not base64", "a.!!!.c", nil, ErrBadTokenFile},
		{"payload not JSON", jwt("[1"), nil, ErrBadTokenFile},
		{"too large", jwt(`{"aud":"api","pad":"` + strings.Repeat("x", 70<<10) + `"}`), nil, ErrBadTokenFile},
		{"missing file", "-", nil, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if tt.content != "-" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := APIServerAudiences(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("audiences (-want +got):\n%s", diff)
			}
		})
	}
}
