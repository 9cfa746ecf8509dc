package mount_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

func TestVersion(t *testing.T) {
	h := newHarness(t)
	resp, err := h.client.Version(t.Context(), &pb.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != "v1alpha1" || resp.RuntimeName != "vault-csi-provider" || resp.RuntimeVersion != "test" {
		t.Errorf("Version = %v", resp)
	}
}

// TestMountObjects covers each object field against the real Vault.
func TestMountObjects(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{
		"user": "alice", "password": "p4ss-w0rd", "port": 5432, "tags": []string{"a", "b"},
		"keystore": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}),
		"hexkey":   hex.EncodeToString([]byte("raw\x00bytes")),
	}})
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"user": "bob"}}) // version 2
	write(t, h.vault, "kv1/legacy", map[string]any{"token": "v1-value"})

	tests := []struct {
		name    string
		objects string
		want    map[string]file
	}{
		{"kv v2 key", `
- objectName: user
  secretPath: secret/data/app
  secretKey: user`, map[string]file{"user": {"bob", 0o644}}},
		{"kv v2 old version by query, /v1/ prefix", `
- objectName: user
  secretPath: /v1/secret/data/app?version=1
  secretKey: user`, map[string]file{"user": {"alice", 0o644}}},
		{"kv v1, nested name, permissions int and string", `
- objectName: conf/legacy
  secretPath: kv1/legacy
  secretKey: token
  filePermission: 0600
- objectName: conf/legacy-copy
  secretPath: v1/kv1/legacy
  secretKey: token
  filePermission: "0640"`, map[string]file{"conf/legacy": {"v1-value", 0o600}, "conf/legacy-copy": {"v1-value", 0o640}}},
		{"kv v1 whole secret as JSON", `
- objectName: legacy.json
  secretPath: kv1/legacy`, map[string]file{"legacy.json": {
			`{"request_id":"","lease_id":"","lease_duration":2764800,"renewable":false,"data":{"token":"v1-value"},"warnings":null}`, 0o644}}},
		{"kv v1 whole secret's data alone", `
- objectName: legacy.json
  secretPath: kv1/legacy
  jsonShape: data`, map[string]file{"legacy.json": {`{"token":"v1-value"}`, 0o644}}},
		{"non-string values as JSON", `
- objectName: port
  secretPath: secret/data/app?version=1
  secretKey: port
- objectName: tags
  secretPath: secret/data/app?version=1
  secretKey: tags`, map[string]file{"port": {"5432", 0o644}, "tags": {`["a","b"]`, 0o644}}},
		{"encodings", `
- objectName: keystore.p12
  secretPath: secret/data/app?version=1
  secretKey: keystore
  encoding: base64
- objectName: key.bin
  secretPath: secret/data/app?version=1
  secretKey: hexkey
  encoding: hex`, map[string]file{"keystore.p12": {"\x00\x01\x02\xff", 0o644}, "key.bin": {"raw\x00bytes", 0o644}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mountFiles(t, tt.objects, tt.want)
		})
	}
}

// TestMountWholeKVv2Secret: without secretKey the file is Vault's whole
// response, as hashicorp/vault-csi-provider writes it (consumers read
// .data.data.a), and stays the same, version included, while the secret
// does: the request ID, new on every read, is left out.
func TestMountWholeKVv2Secret(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/whole", map[string]any{"data": map[string]any{"a": "1"}})
	objects := map[string]string{"objects": "- objectName: whole.json\n  secretPath: secret/data/whole\n" +
		"- objectName: data.json\n  secretPath: secret/data/whole\n  jsonShape: data\n"}
	first, err := h.mount(t, objects)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		RequestID *string `json:"request_id"`
		LeaseID   *string `json:"lease_id"`
		Renewable *bool   `json:"renewable"`
		Data      struct {
			Data     map[string]string `json:"data"`
			Metadata map[string]any    `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(first.Files[0].Contents, &got); err != nil {
		t.Fatalf("file is not JSON: %v", err)
	}
	if got.RequestID == nil || *got.RequestID != "" || got.LeaseID == nil || got.Renewable == nil ||
		got.Data.Data["a"] != "1" || got.Data.Metadata["version"] == nil {
		t.Errorf("whole secret = %s", first.Files[0].Contents)
	}
	var data struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(first.Files[1].Contents, &data); err != nil || data.Data["a"] != "1" {
		t.Errorf("jsonShape data = %s (%v)", first.Files[1].Contents, err)
	}
	again, err := h.mount(t, objects)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first.Files {
		if !bytes.Equal(again.Files[i].Contents, first.Files[i].Contents) || again.ObjectVersion[i].Version != first.ObjectVersion[i].Version {
			t.Errorf("%s changed between reads of the same secret:\n%s\n%s", first.Files[i].Path, first.Files[i].Contents, again.Files[i].Contents)
		}
	}
}

// TestPKIIssueIsSentOnce: a certificate and its key from the same
// pki/issue request must come from one call, or they would not match.
func TestPKIIssueIsSentOnce(t *testing.T) {
	h := newHarness(t)
	objects := `
- objectName: tls.crt
  secretPath: pki/issue/web
  method: PUT
  secretArgs: {common_name: a.example.test, ttl: 10m}
  secretKey: certificate
- objectName: tls.key
  secretPath: pki/issue/web
  method: put
  secretArgs: {ttl: 10m, common_name: a.example.test}
  secretKey: private_key
- objectName: other.crt
  secretPath: pki/issue/web
  method: POST
  secretArgs: {common_name: b.example.test}
  secretKey: certificate`
	resp, err := h.mount(t, map[string]string{"objects": objects})
	if err != nil {
		t.Fatal(err)
	}
	f := files(resp)
	cert := parseCert(t, f["tls.crt"].Content)
	key := parseKey(t, f["tls.key"].Content)
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
		t.Error("tls.key does not match tls.crt: the issue request was sent twice")
	}
	other := parseCert(t, f["other.crt"].Content)
	if other.Subject.CommonName != "b.example.test" || other.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Errorf("other.crt: CN %q, same serial %t", other.Subject.CommonName, other.SerialNumber.Cmp(cert.SerialNumber) == 0)
	}
}

func parseCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %.40q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseKey(t *testing.T, s string) crypto.Signer {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func TestObjectVersions(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/rotating", map[string]any{"data": map[string]any{"v": "one"}})
	objects := "- objectName: v\n  secretPath: secret/data/rotating\n  secretKey: v\n"
	version := func() string {
		t.Helper()
		resp, err := h.mount(t, map[string]string{"objects": objects})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ObjectVersion) != 1 || resp.ObjectVersion[0].Id != "v" {
			t.Fatalf("object versions = %v", resp.ObjectVersion)
		}
		return resp.ObjectVersion[0].Version
	}
	first, again := version(), version()
	if first != again {
		t.Errorf("version changed without a change: %s then %s", first, again)
	}
	for _, plain := range []string{"one", hexSHA256("one")} {
		if strings.Contains(first, plain) {
			t.Errorf("version %s reveals the secret (%s)", first, plain)
		}
	}
	write(t, h.vault, "secret/data/rotating", map[string]any{"data": map[string]any{"v": "two"}})
	if changed := version(); changed == first {
		t.Error("version unchanged after the secret changed")
	}
}

// TestMountErrors checks the gRPC code and that the message says what to fix.
func TestMountErrors(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/present", map[string]any{"data": map[string]any{"k": "not-base64!"}})
	write(t, h.vault, "secret/data/forbidden-elsewhere", map[string]any{"data": map[string]any{"k": "v"}})
	tests := []struct {
		name     string
		params   map[string]string
		wantCode codes.Code
		want     []string
	}{
		{"no roleName", map[string]string{"roleName": "", "objects": "- {objectName: a, secretPath: secret/data/present}"},
			codes.InvalidArgument, []string{"roleName"}},
		{"malformed objects", map[string]string{"objects": "- objectName: [unclosed"}, codes.InvalidArgument, []string{"objects"}},
		{"unknown field", map[string]string{"objects": "- {objectName: a, secretPath: secret/data/present, secretkey: k}"},
			codes.InvalidArgument, []string{"secretkey", `"a"`}},
		{"unsafe objectName", map[string]string{"objects": "- {objectName: ../escape, secretPath: secret/data/present}"},
			codes.InvalidArgument, []string{"../escape"}},
		{"missing secret", map[string]string{"objects": "- {objectName: a, secretPath: secret/data/absent, secretKey: k}"},
			codes.NotFound, []string{`object "a": vault: GET secret/data/absent: HTTP 404`}},
		{"missing key", map[string]string{"objects": "- {objectName: a, secretPath: secret/data/present, secretKey: nope}"},
			codes.NotFound, []string{`"nope"`, "secret/data/present", `"k"`}},
		{"bad encoding of the value", map[string]string{"objects": "- {objectName: a, secretPath: secret/data/present, secretKey: k, encoding: base64}"},
			codes.FailedPrecondition, []string{"base64", `"a"`}},
		{"secretPath with .. element", map[string]string{"objects": "- {objectName: a, secretPath: kv1/../secret, secretKey: k}"},
			codes.InvalidArgument, []string{"kv1/../secret"}},
		{"policy denies the path", map[string]string{"objects": "- {objectName: a, secretPath: sys/mounts}"},
			codes.PermissionDenied, []string{`object "a": vault: GET sys/mounts: HTTP 403`}},
		{"role does not allow the service account", map[string]string{
			"csi.storage.k8s.io/serviceAccount.name": "intruder",
			"objects":                                "- {objectName: a, secretPath: secret/data/present, secretKey: k}"},
			codes.PermissionDenied, []string{`role "web"`}},
		{"unknown role", map[string]string{"roleName": "nobody", "objects": "- {objectName: a, secretPath: secret/data/present, secretKey: k}"},
			codes.PermissionDenied, []string{`"nobody"`}},
		{"vault unreachable", map[string]string{"vaultAddress": "http://127.0.0.1:1", "objects": "- {objectName: a, secretPath: secret/data/present}"},
			codes.Unavailable, []string{"127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.mount(t, tt.params)
			st := status.Convert(err)
			t.Logf("%s: %s", st.Code(), st.Message())
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %s (%s), want %s", st.Code(), st.Message(), tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message lacks %q: %s", w, st.Message())
				}
			}
		})
	}
}
