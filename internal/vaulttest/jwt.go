package vaulttest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// JWTIssuer signs RS256 tokens shaped like projected Kubernetes
// service-account tokens, standing in for the API server's signing key.
type JWTIssuer struct {
	Issuer string
	KeyID  string

	key    *rsa.PrivateKey
	pubPEM string
}

// NewJWTIssuer returns an issuer with a fresh 2048-bit RSA key.
func NewJWTIssuer(issuer string) (*JWTIssuer, error) {
	if issuer == "" {
		return nil, errors.New("vaulttest: empty JWT issuer")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: generating RSA key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: encoding public key: %w", err)
	}
	kid := sha256.Sum256(der)
	return &JWTIssuer{
		Issuer: issuer,
		KeyID:  base64.RawURLEncoding.EncodeToString(kid[:16]),
		key:    key,
		pubPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}, nil
}

// PublicKeyPEM returns the verification key as a PEM "PUBLIC KEY" block,
// the form Vault's jwt_validation_pubkeys expects.
func (i *JWTIssuer) PublicKeyPEM() string { return i.pubPEM }

// ServiceAccountToken returns a signed token for namespace/serviceAccount
// running in pod podName (podUID), for audience, valid for ttl. An empty
// podName gives a token bound to no pod, as a TokenRequest without a
// boundObjectRef (the Secrets Store sync controller's).
func (i *JWTIssuer) ServiceAccountToken(namespace, serviceAccount, podName, podUID, audience string, ttl time.Duration) (string, error) {
	if namespace == "" || serviceAccount == "" {
		return "", errors.New("vaulttest: namespace and service account are required")
	}
	now := time.Now()
	claims := map[string]any{
		"iss": i.Issuer,
		"sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"aud": []string{audience},
		"exp": now.Add(ttl).Unix(),
		"iat": now.Unix(),
		"nbf": now.Unix(),
	}
	k8s := map[string]any{
		"namespace": namespace,
		"serviceaccount": map[string]string{
			"name": serviceAccount,
			"uid":  "sa-uid-" + namespace + "-" + serviceAccount,
		},
	}
	if podName != "" {
		k8s["pod"] = map[string]string{"name": podName, "uid": podUID}
	}
	claims["kubernetes.io"] = k8s
	return i.sign(claims)
}

// sign encodes claims as a compact JWS with an RS256 signature.
func (i *JWTIssuer) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": i.KeyID})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("vaulttest: encoding claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("vaulttest: signing: %w", err)
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}
