package lease

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/ssh"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// certPEM is a self-signed certificate valid from start to end, with serial
// number 0x2a.
func certPEM(t *testing.T, start, end time.Time) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x2a), Subject: pkix.Name{CommonName: "a.test"}, NotBefore: start, NotAfter: end}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// pkiIssued is the data of a PKI issue response for a certificate valid
// from start to end, with changes applied (a nil value removes the field).
func pkiIssued(t *testing.T, start, end time.Time, changes map[string]any) map[string]any {
	t.Helper()
	data := map[string]any{
		"certificate":   certPEM(t, start, end),
		"serial_number": "2a",
		"expiration":    json.Number(strconv.FormatInt(end.Unix(), 10)),
		"private_key":   "k",
	}
	for k, v := range changes {
		if v == nil {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	return data
}

// sshSerial is the serial number of the certificates sshCert signs.
const sshSerial = 0xe525fe7557eb60fe

// sshCert is an authorized_keys line of an SSH certificate valid from
// after to before (Unix seconds).
func sshCert(t *testing.T, after, before uint64) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	// Since golang.org/x/crypto v0.59.0 SignCert refuses a certificate without a principal.
	c := &ssh.Certificate{Key: signer.PublicKey(), CertType: ssh.UserCert, ValidPrincipals: []string{"web"},
		Serial: sshSerial, ValidAfter: after, ValidBefore: before}
	if err := c.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(c))
}

func TestCertificateValidity(t *testing.T) {
	start, end := t0.Add(-30*time.Second), t0.Add(time.Hour)
	sshStart, sshEnd := uint64(start.Unix()), uint64(end.Unix())
	sshSigned := map[string]any{"signed_key": sshCert(t, sshStart, sshEnd), "serial_number": "e525fe7557eb60fe"}
	pkiValid, sshValid := Validity{start, end}, Validity{time.Unix(start.Unix(), 0), time.Unix(end.Unix(), 0)}
	future := json.Number(strconv.FormatInt(end.Unix(), 10))
	tests := []struct {
		name string
		s    *api.Secret
		want Validity
		ok   bool
	}{
		{"PKI issue", &api.Secret{Data: pkiIssued(t, start, end, nil)}, pkiValid, true},
		{"PKI issue from a pki mount", &api.Secret{MountType: "pki", Data: pkiIssued(t, start, end, nil)}, pkiValid, true},
		{"PKI serial number with colons", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{"serial_number": "00:2a"})}, pkiValid, true},
		{"SSH sign", &api.Secret{Data: sshSigned}, sshValid, true},
		{"SSH sign from an ssh mount", &api.Secret{MountType: "ssh", Data: sshSigned}, sshValid, true},

		{"KV v1 with a certificate and a future expiration", &api.Secret{Data: map[string]any{
			"certificate": certPEM(t, start, end), "expiration": future}}, Validity{}, false},
		{"expiration alone", &api.Secret{Data: map[string]any{"expiration": future}}, Validity{}, false},
		{"a PKI response's copy from a kv mount", &api.Secret{MountType: "kv", Data: pkiIssued(t, start, end, nil)}, Validity{}, false},
		{"an SSH response's copy from a kv mount", &api.Secret{MountType: "kv", Data: sshSigned}, Validity{}, false},
		{"SSH shape from a pki mount", &api.Secret{MountType: "pki", Data: sshSigned}, Validity{}, false},
		{"PKI shape from an ssh mount", &api.Secret{MountType: "ssh", Data: pkiIssued(t, start, end, nil)}, Validity{}, false},
		{"PKI without serial number", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{"serial_number": nil})}, Validity{}, false},
		{"PKI serial number of another certificate", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{"serial_number": "2b"})}, Validity{}, false},
		{"PKI without expiration", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{"expiration": nil})}, Validity{}, false},
		{"PKI expiration other than the certificate's end", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{
			"expiration": json.Number(strconv.FormatInt(end.Unix()+60, 10))})}, Validity{}, false},
		{"SSH without serial number", &api.Secret{Data: map[string]any{"signed_key": sshSigned["signed_key"]}}, Validity{}, false},
		{"SSH serial number of another certificate", &api.Secret{Data: map[string]any{
			"signed_key": sshSigned["signed_key"], "serial_number": "1"}}, Validity{}, false},
		{"SSH certificate that never ends", &api.Secret{Data: map[string]any{
			"signed_key": sshCert(t, 0, ssh.CertTimeInfinity), "serial_number": "e525fe7557eb60fe"}}, Validity{}, false},
		{"leased: kept as a lease instead", &api.Secret{LeaseID: "pki/issue/web/x", LeaseDuration: 60,
			Data: pkiIssued(t, start, end, nil)}, Validity{}, false},
		{"a KV v2 secret", &api.Secret{Data: map[string]any{"data": pkiIssued(t, start, end, nil)}}, Validity{}, false},
		{"not PEM", &api.Secret{Data: pkiIssued(t, start, end, map[string]any{"certificate": "-----BEGIN CERTIFICATE-----\nnope\n"})}, Validity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CertificateValidity(tt.s)
			if ok != tt.ok || !got.Start.Equal(tt.want.Start) || !got.End.Equal(tt.want.End) {
				t.Errorf("CertificateValidity = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestCertificateReuse: a certificate is returned until it is due, per the
// mount's policy, then issued anew; never past its end.
func TestCertificateReuse(t *testing.T) {
	// Valid 90 s from t0: due at 60 s by default.
	v := Validity{Start: t0, End: t0.Add(sec(90))}
	tests := []struct {
		name   string
		policy Policy
		at     time.Duration
		want   State
	}{
		{"fresh at once", Policy{}, 0, Fresh},
		{"fresh just before two thirds", Policy{}, sec(60) - time.Nanosecond, Fresh},
		{"due at two thirds", Policy{}, sec(60), Missing},
		{"renewBefore 10s", Policy{RenewBefore: sec(10)}, sec(79), Fresh},
		{"renewBefore 10s: due", Policy{RenewBefore: sec(10)}, sec(80), Missing},
		{"renewBefore longer than the validity", Policy{RenewBefore: time.Hour}, 0, Missing},
		{"renewBeforePercentage 10", Policy{RenewBeforePercentage: 10}, sec(80), Fresh},
		{"renewBeforePercentage 10: due", Policy{RenewBeforePercentage: 10}, sec(81), Missing},
		{"reuse off", Policy{NoCertificates: true}, 0, Missing},
		{"lease reuse off keeps certificates", Policy{NoLeases: true}, 0, Fresh},
		{"never past its end", Policy{RenewBefore: time.Nanosecond}, sec(90), Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m, clk := newTestCache(t)
			k := key("pod-1", "PUT pki/issue/web")
			s := &api.Secret{Data: map[string]any{"certificate": "c"}}
			c.PutCertificate(k, s, v, "hvs.token-1")
			clk.at(tt.at)
			e, got := c.Get(k, tt.policy)
			if got != tt.want {
				t.Fatalf("state %v, want %v", got, tt.want)
			}
			if got == Fresh && e.Secret != s {
				t.Error("another secret returned")
			}
			reused := testutil.ToFloat64(m.Certificates.WithLabelValues("reused"))
			if want := map[bool]float64{true: 1, false: 0}[got == Fresh]; reused != want {
				t.Errorf("reused %v, want %v", reused, want)
			}
		})
	}
}

// TestCertificateEvents: issued, reused, reissued once due, and dropped
// with the pod; certificates are not counted as leases.
func TestCertificateEvents(t *testing.T) {
	c, m, clk := newTestCache(t)
	k := key("pod-1", "PUT pki/issue/web")
	v := Validity{Start: t0, End: t0.Add(sec(90))}
	c.PutCertificate(k, &api.Secret{Data: map[string]any{}}, v, "hvs.token-1")
	c.Get(k, Policy{})
	clk.at(sec(61))
	if _, st := c.Get(k, Policy{}); st != Missing {
		t.Fatalf("due certificate: %v", st)
	}
	c.PutCertificate(k, &api.Secret{Data: map[string]any{}}, Validity{Start: t0.Add(sec(61)), End: t0.Add(sec(151))}, "hvs.token-1")
	// One more for a class that keeps none.
	c.NotKept()
	event := func(e string) float64 { return testutil.ToFloat64(m.Certificates.WithLabelValues(e)) }
	if event("issued") != 2 || event("reused") != 1 || event("reissued") != 1 {
		t.Errorf("issued %v reused %v reissued %v, want 2, 1, 1", event("issued"), event("reused"), event("reissued"))
	}
	checkMetrics(t, m, counts{size: 1})
	out := c.ForgetPod("pod-1")
	if len(out) != 1 || out[0].Leased() || out[0].Token != "hvs.token-1" {
		t.Errorf("ForgetPod = %v", out)
	}
	checkMetrics(t, m, counts{size: 0})
}

// TestRealCertificates reads the validity of certificates the real Vault
// issues without a lease, PKI (issue) and SSH (sign), and finds none in a
// KV v1 secret holding an issued certificate and its expiration.
func TestRealCertificates(t *testing.T) {
	v := vaulttest.StartT(t)
	ctx := context.Background()
	if err := v.Mount(ctx, "pki", "pki", nil); err != nil {
		t.Fatal(err)
	}
	if err := v.Mount(ctx, "ssh", "ssh", nil); err != nil {
		t.Fatal(err)
	}
	if err := v.Mount(ctx, "kv1", "kv", map[string]string{"version": "1"}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"pki/root/generate/internal": {"common_name": "example.test", "ttl": "24h"},
		"pki/roles/web":              {"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h"},
		"ssh/config/ca":              {"generate_signing_key": true},
		"ssh/roles/user":             {"key_type": "ca", "allow_user_certificates": true, "allowed_users": "*", "ttl": "10m"},
	} {
		if _, err := v.Write(ctx, path, data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	before := time.Now()
	issued, err := v.Write(ctx, "pki/issue/web", map[string]any{"common_name": "a.example.test", "ttl": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	checkMountType(t, issued, "pki")
	got, ok := CertificateValidity(issued)
	// Vault backdates NotBefore by 30 s.
	if !ok || got.End.Sub(got.Start) < 10*time.Minute || got.End.Before(before.Add(9*time.Minute)) {
		t.Errorf("PKI certificate validity %v, %v", got, ok)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := v.Write(ctx, "ssh/sign/user", map[string]any{"public_key": string(ssh.MarshalAuthorizedKey(pub))})
	if err != nil {
		t.Fatal(err)
	}
	checkMountType(t, signed, "ssh")
	got, ok = CertificateValidity(signed)
	if !ok || got.End.Sub(got.Start) < 10*time.Minute || got.End.After(time.Now().Add(11*time.Minute)) {
		t.Errorf("SSH certificate validity %v, %v", got, ok)
	}

	if _, err := v.Write(ctx, "kv1/cert", map[string]any{
		"certificate": issued.Data["certificate"], "expiration": issued.Data["expiration"],
	}); err != nil {
		t.Fatal(err)
	}
	stored, err := v.API().Logical().ReadWithContext(ctx, "kv1/cert")
	if err != nil {
		t.Fatal(err)
	}
	checkMountType(t, stored, "kv")
	if got, ok := CertificateValidity(stored); ok {
		t.Errorf("a KV v1 secret with a certificate and an expiration kept as a certificate until %v", got.End)
	}

	// Kept: reused while fresh, issued anew two thirds in (on a fake clock).
	c, _, clk := newTestCache(t)
	clk.now = time.Now()
	pv, _ := CertificateValidity(issued)
	lk := key("pod-1", "PUT pki/issue/web")
	c.PutCertificate(lk, issued, pv, "hvs.token-1")
	if e, st := c.Get(lk, Policy{}); st != Fresh || e.Secret != issued {
		t.Fatalf("fresh certificate: %v", st)
	}
	// Two thirds in, as the cache reckons it: a third before the end.
	clk.now = pv.End.Add(-pv.End.Sub(pv.Start) / 3)
	if _, st := c.Get(lk, Policy{}); st != Missing {
		t.Fatalf("two thirds in: %v, want Missing", st)
	}
}

// checkMountType fails unless s comes from a mount of type want, or Vault
// did not say (Vault 1.13 leaves mount_type out of these responses).
func checkMountType(t *testing.T, s *api.Secret, want string) {
	t.Helper()
	if s.MountType != "" && s.MountType != want {
		t.Errorf("mount_type %q, want %q or none", s.MountType, want)
	}
}
