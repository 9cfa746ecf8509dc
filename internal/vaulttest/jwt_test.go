package vaulttest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestServiceAccountToken(t *testing.T) {
	iss, err := NewJWTIssuer("https://kubernetes.test")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	tok, err := iss.ServiceAccountToken("ns1", "app", "pod-1", "pod-uid-1", "vault", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}

	// The signature verifies with the published PEM key.
	block, _ := pem.Decode([]byte(iss.PublicKeyPEM()))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("PublicKeyPEM is not a PUBLIC KEY block: %q", iss.PublicKeyPEM())
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}

	var header map[string]string
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "RS256" || header["kid"] != iss.KeyID {
		t.Errorf("header = %v", header)
	}
	var claims struct {
		Iss  string   `json:"iss"`
		Sub  string   `json:"sub"`
		Aud  []string `json:"aud"`
		Exp  int64    `json:"exp"`
		Iat  int64    `json:"iat"`
		Nbf  int64    `json:"nbf"`
		Kube struct {
			Namespace string `json:"namespace"`
			Pod       struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"pod"`
			ServiceAccount struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	decodeSegment(t, parts[1], &claims)
	switch {
	case claims.Iss != "https://kubernetes.test",
		claims.Sub != "system:serviceaccount:ns1:app",
		len(claims.Aud) != 1 || claims.Aud[0] != "vault",
		claims.Iat < before || claims.Nbf != claims.Iat || claims.Exp != claims.Iat+600,
		claims.Kube.Namespace != "ns1",
		claims.Kube.Pod.Name != "pod-1" || claims.Kube.Pod.UID != "pod-uid-1",
		claims.Kube.ServiceAccount.Name != "app" || claims.Kube.ServiceAccount.UID == "":
		t.Errorf("unexpected claims %+v", claims)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestJWTLoginAgainstVault checks that real Vault accepts the tokens.
func TestJWTLoginAgainstVault(t *testing.T) {
	s := StartT(t)
	ctx := context.Background()
	iss, err := NewJWTIssuer("https://kubernetes.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfigureJWTAuth(ctx, "jwt", iss); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteJWTRole(ctx, "jwt", "app", "ns1", "app", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	tok, err := iss.ServiceAccountToken("ns1", "app", "pod-1", "uid-1", "vault", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := s.Write(ctx, "auth/jwt/login", map[string]any{"role": "app", "jwt": tok})
	if err != nil {
		t.Fatal(err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		t.Fatalf("login returned no token: %+v", secret)
	}
}
