package mount_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// TestMountTemplates renders files from a database lease, a KV v2 secret
// and a PKI certificate, through the socket against the real Vault and
// PostgreSQL.
func TestMountTemplates(t *testing.T) {
	h := newHarness(t)
	pg := vaulttest.StartPostgresT(t)
	addDatabase(t, h.vault, pg)
	write(t, h.vault, "secret/data/tmpl", map[string]any{"data": map[string]any{"host": "db.internal", "api-key": "k3y", "port": 5432}})
	objects := `
- objectName: db
  secretPath: ` + dbCreds + `
  templateOnly: true
- objectName: app
  secretPath: secret/data/tmpl
  templateOnly: true
- objectName: port
  secretPath: secret/data/tmpl
  secretKey: port
- objectName: cert
  secretPath: pki/issue/web
  method: PUT
  secretArgs: {common_name: tmpl.example.test, ttl: 10m}
  templateOnly: true
- objectName: config/database.yml
  filePermission: 0400
  template: |
    production:
      host: {{ .app.data.data.host }}
      port: {{ add 1 .port }}
      username: {{ .db.data.username }}
      password: {{ .db.data.password | toJson }}
- objectName: config/application.properties
  template: |-
    api.key={{ index .app.data.data "api-key" }}
    lease={{ if .db.lease_id }}yes{{ end }}
- objectName: tls/bundle.pem
  template: '{{ pemJoin .cert.data.certificate .cert.data.issuing_ca }}'
- objectName: tls/key.pem
  template: '{{ .cert.data.private_key }}'
`
	resp, err := h.mount(t, map[string]string{"objects": objects})
	if err != nil {
		t.Fatal(err)
	}
	got := files(resp)
	for _, name := range []string{"db", "app", "cert"} {
		if _, ok := got[name]; ok {
			t.Errorf("templateOnly object %s wrote a file", name)
		}
	}
	yml := got["config/database.yml"]
	var user, pass string
	if _, err := fmt.Sscanf(yml.Content, "production:\n  host: db.internal\n  port: 5433\n  username: %s\n  password: %s\n", &user, &pass); err != nil || yml.Mode != 0o400 {
		t.Fatalf("database.yml (mode %#o) = %q: %v", yml.Mode, yml.Content, err)
	}
	roleValidUntil(t, pg, user) // a real database user
	if want := "api.key=k3y\nlease=yes"; got["config/application.properties"].Content != want {
		t.Errorf("application.properties = %q, want %q", got["config/application.properties"].Content, want)
	}
	// The bundle holds the certificate and its issuer, and the key matches it.
	var certs []*x509.Certificate
	for rest := []byte(got["tls/bundle.pem"].Content); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		must(t, err)
		certs = append(certs, c)
	}
	if len(certs) != 2 || certs[0].Subject.CommonName != "tmpl.example.test" || certs[1].Subject.CommonName != "example.test" {
		t.Fatalf("bundle holds %d certificates: %v", len(certs), certs)
	}
	kb, _ := pem.Decode([]byte(got["tls/key.pem"].Content))
	if kb == nil {
		t.Fatal("key.pem holds no PEM block")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	must(t, err)
	if !key.PublicKey.Equal(certs[0].PublicKey) {
		t.Error("key.pem does not match the certificate: they came from different responses")
	}
}

// TestTemplateVersion: a template file's version changes when and only
// when its content does.
func TestTemplateVersion(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/tv", map[string]any{"data": map[string]any{"host": "a", "other": "1"}})
	params := map[string]string{"objects": `
- {objectName: app, secretPath: secret/data/tv, templateOnly: true}
- {objectName: conf, template: "host={{ .app.data.data.host }}"}`}
	versionOf := func() (string, string) {
		t.Helper()
		resp, err := h.mount(t, params)
		must(t, err)
		return string(resp.Files[0].Contents), resp.ObjectVersion[0].Version
	}
	c1, v1 := versionOf()
	// A new KV version that leaves the rendered text alone.
	write(t, h.vault, "secret/data/tv", map[string]any{"data": map[string]any{"host": "a", "other": "2"}})
	c2, v2 := versionOf()
	write(t, h.vault, "secret/data/tv", map[string]any{"data": map[string]any{"host": "b", "other": "2"}})
	c3, v3 := versionOf()
	if c1 != "host=a" || c2 != c1 || v2 != v1 {
		t.Errorf("unchanged text: %q %s, then %q %s", c1, v1, c2, v2)
	}
	if c3 != "host=b" || v3 == v1 {
		t.Errorf("changed text %q kept version %s", c3, v3)
	}
}

// TestTemplateErrors: failures name the object and line, never a value;
// an optional template is left out when a value it uses is missing.
func TestTemplateErrors(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/te", map[string]any{"data": map[string]any{"pw": "s3cret-pw", "blob": "s3cret-blob"}})
	const app = "- {objectName: app, secretPath: secret/data/te, templateOnly: true}\n"
	tests := []struct {
		name    string
		objects string
		code    codes.Code
		want    []string
		files   []string // on success
	}{
		{"syntax error", app + "- objectName: conf\n  template: |\n    a\n    {{ .app.data.data.pw }\n", codes.InvalidArgument,
			[]string{`object "conf": template: line 2`}, nil},
		{"unknown function", app + "- {objectName: conf, template: '{{ env \"HOME\" }}'}", codes.InvalidArgument,
			[]string{`object "conf"`, `function "env" not defined`}, nil},
		{"missing key", app + "- {objectName: conf, template: '{{ .app.data.data.nope }}'}", codes.NotFound,
			[]string{`object "conf"`, `"nope"`}, nil},
		{"missing object", app + "- {objectName: conf, template: '{{ .db.data.password }}'}", codes.NotFound,
			[]string{`object "conf"`, `"db"`}, nil},
		{"execution error quotes no value", app + "- {objectName: conf, template: '{{ .app.data.data.blob | b64dec }}'}", codes.InvalidArgument,
			[]string{`object "conf"`, `b64dec`}, nil},
		{"output too large", app + "- {objectName: conf, template: '{{ range until 5000 }}{{ printf \"%0300d\" 0 }}{{ end }}'}", codes.ResourceExhausted,
			[]string{`object "conf"`}, nil},
		{"optional template left out", app +
			"- {objectName: extra, secretPath: secret/data/no-such, templateOnly: true, optional: true}\n" +
			"- {objectName: conf, optional: true, template: '{{ .extra.data.data.x }}'}\n" +
			"- {objectName: pw, template: '{{ .app.data.data.pw }}'}", codes.OK, nil, []string{"pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.mount(t, map[string]string{"objects": tt.objects})
			checkStatus(t, err, tt.code, tt.want)
			var names []string
			for _, f := range resp.GetFiles() {
				names = append(names, f.Path)
			}
			if tt.code == codes.OK && fmt.Sprint(names) != fmt.Sprint(tt.files) {
				t.Errorf("files %v, want %v", names, tt.files)
			}
		})
	}
}

// addDatabase points h's Vault at pg with the role dbRole, and lets the
// test pod's role read its credentials besides what setupVault allows.
func addDatabase(t *testing.T, v *vaulttest.Server, pg *vaulttest.Postgres) {
	t.Helper()
	configureDatabase(t, v, pg, time.Hour, time.Hour)
	must(t, v.WritePolicy(context.Background(), "web", `
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
path "`+dbCreds+`" { capabilities = ["read"] }
`))
}
