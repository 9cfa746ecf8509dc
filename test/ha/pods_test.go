package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// issue returns a CA and a leaf for app.ha.test signed by it, in PEM, with
// the leaf's key.
func issue(t *testing.T) (caPEM, crtPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: domain},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{"app." + domain},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestCheck(t *testing.T) {
	caPEM, crt, key := issue(t)
	_, otherCrt, otherKey := issue(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	files := func(kv string, crt, key []byte, password string) *pb.MountResponse {
		return &pb.MountResponse{Files: []*pb.File{
			{Path: "kv", Contents: []byte(kv)}, {Path: "tls.crt", Contents: crt}, {Path: "tls.key", Contents: key},
			{Path: "db/username", Contents: []byte("v-user")}, {Path: "db/password", Contents: []byte(password)},
		}}
	}
	for _, tc := range []struct {
		name    string
		resp    *pb.MountResponse
		wantErr bool
	}{
		{name: "right", resp: files("value", crt, key, "pw")},
		{name: "kv value", resp: files("other", crt, key, "pw"), wantErr: true},
		{name: "certificate of another CA", resp: files("value", otherCrt, otherKey, "pw"), wantErr: true},
		{name: "key of another certificate", resp: files("value", crt, otherKey, "pw"), wantErr: true},
		{name: "known user, other password", resp: files("value", crt, key, "other"), wantErr: true},
		{name: "a file missing", resp: &pb.MountResponse{Files: files("value", crt, key, "pw").Files[1:]}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(&seeded{kvValue: "value", roots: roots})
			c.users["v-user"] = login{password: "pw"} // as if it had logged in
			if err := c.check(context.Background(), tc.resp); (err != nil) != tc.wantErr {
				t.Errorf("check() = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
