package mount_test

import (
	"encoding/base64"
	"testing"

	"google.golang.org/grpc/codes"
)

// TestMountRendering covers what an object can make of its secret besides
// one value, through the socket against the real Vault.
func TestMountRendering(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/render", map[string]any{"data": map[string]any{
		"username": "alice", "password": "s3cret-pw", "port": 5432,
		"db":      map[string]any{"host": "db.internal", "replicas": []string{"r1", "r2"}},
		"config":  `{"pool": {"size": 10}, "dsn": "postgres://db"}`,
		"keyfile": base64.StdEncoding.EncodeToString([]byte{0, 0xff}),
	}})
	write(t, h.vault, "kv1/render", map[string]any{"user": "bob", "pass": "kv1-pw"})

	tests := []struct {
		name    string
		objects string
		want    map[string]file
	}{
		{"keysAsFiles: every key of KV v2", `
- objectName: app
  secretPath: secret/data/render
  keysAsFiles: true
  filePermission: 0400`, map[string]file{
			"app/username": {"alice", 0o400}, "app/password": {"s3cret-pw", 0o400}, "app/port": {"5432", 0o400},
			"app/db":      {`{"host":"db.internal","replicas":["r1","r2"]}`, 0o400},
			"app/config":  {`{"pool": {"size": 10}, "dsn": "postgres://db"}`, 0o400},
			"app/keyfile": {base64.StdEncoding.EncodeToString([]byte{0, 0xff}), 0o400},
		}},
		{"keysAsFiles: listed keys of KV v1, beside other objects", `
- objectName: creds
  secretPath: kv1/render
  keysAsFiles: [user, pass]
- objectName: creds.json
  secretPath: kv1/render
  jsonShape: data`, map[string]file{
			"creds/user": {"bob", 0o644}, "creds/pass": {"kv1-pw", 0o644}, "creds.json": {`{"pass":"kv1-pw","user":"bob"}`, 0o644},
		}},
		{"keysAsFiles: the keys of a map at secretKey", `
- objectName: db
  secretPath: secret/data/render
  secretKey: db
  keysAsFiles: [host]`, map[string]file{"db/host": {"db.internal", 0o644}}},
		{"keysAsFiles with an encoding", `
- objectName: bin
  secretPath: secret/data/render
  keysAsFiles: [keyfile]
  encoding: base64`, map[string]file{"bin/keyfile": {"\x00\xff", 0o644}}},
		{"jmesPath: a map inside KV v2 data, an element of a list, a field of a JSON string", `
- objectName: host
  secretPath: secret/data/render
  jmesPath: db.host
- objectName: replica
  secretPath: secret/data/render
  jmesPath: db.replicas[-1]
- objectName: pool
  secretPath: secret/data/render
  secretKey: config
  jmesPath: pool.size
- objectName: replicas.json
  secretPath: secret/data/render
  secretKey: db
  jmesPath: replicas`, map[string]file{
			"host": {"db.internal", 0o644}, "replica": {"r2", 0o644}, "pool": {"10", 0o644}, "replicas.json": {`["r1","r2"]`, 0o644},
		}},
		{"jmesPath: keysAsFiles of a nested map", `
- objectName: db
  secretPath: secret/data/render
  jmesPath: db
  keysAsFiles: [host]`, map[string]file{"db/host": {"db.internal", 0o644}}},
		{"optional: a missing secret and a missing key leave their files out", `
- objectName: user
  secretPath: secret/data/render
  secretKey: username
- objectName: absent
  secretPath: secret/data/no-such-secret
  secretKey: x
  optional: true
- objectName: absent-key
  secretPath: secret/data/render
  secretKey: no-such-key
  optional: true
- objectName: some
  secretPath: secret/data/render
  keysAsFiles: [username, no-such-key]
  optional: true
- objectName: absent-nested
  secretPath: secret/data/render
  jmesPath: db.no_such_field
  optional: true`, map[string]file{"user": {"alice", 0o644}, "some/username": {"alice", 0o644}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mountFiles(t, tt.objects, tt.want)
		})
	}
}

// TestMountRenderingErrors: each failure names what to fix and never a
// value.
func TestMountRenderingErrors(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/keys", map[string]any{"data": map[string]any{"ok": "s3cret-a", "bad/name": "s3cret-b"}})
	write(t, h.vault, "secret/data/clash", map[string]any{"data": map[string]any{"a": "s3cret-c"}})
	write(t, h.vault, "secret/data/nested", map[string]any{"data": map[string]any{
		"db": map[string]any{"host": "s3cret-h", "user": "s3cret-u"}, "blob": "s3cret not json", "list": []string{"s3cret-l"}}})
	tests := []struct {
		name    string
		objects string
		code    codes.Code
		want    []string
	}{
		{"a key that is not a safe file name", `
- objectName: k
  secretPath: secret/data/keys
  keysAsFiles: true`, codes.InvalidArgument, []string{`object "k"`, `key "bad/name" contains "/"`}},
		{"a listed key that is missing", `
- objectName: k
  secretPath: secret/data/keys
  keysAsFiles: [ok, gone]`, codes.NotFound, []string{`key "gone" is not in the secret`, `"bad/name", "ok"`}},
		{"files that collide once the keys are read", `
- objectName: dir
  secretPath: secret/data/clash
  keysAsFiles: true
- objectName: other
  secretPath: secret/data/clash
  keysAsFiles: [a]
- objectName: dir/a
  secretPath: secret/data/clash
  secretKey: a`, codes.InvalidArgument, []string{`writes every key of its secret`}},
		{"jmesPath selecting nothing names the keys where it stopped", `
- objectName: x
  secretPath: secret/data/nested
  jmesPath: db.password`, codes.NotFound, []string{`db.password`, `"host", "user"`}},
		{"jmesPath over a value that is not JSON", `
- objectName: x
  secretPath: secret/data/nested
  secretKey: blob
  jmesPath: a`, codes.FailedPrecondition, []string{`jmesPath needs JSON`, `key "blob"`}},
		{"jmesPath refused at parse time", `
- objectName: x
  secretPath: secret/data/nested
  jmesPath: "[db, db]"`, codes.InvalidArgument, []string{`object "x": jmesPath`}},
		{"jmesPath function on the wrong type", `
- objectName: x
  secretPath: secret/data/nested
  jmesPath: length(db.host) && keys(list)`, codes.InvalidArgument, []string{`keys`}},
		{"optional does not hide a denied read", `
- objectName: denied
  secretPath: sys/policies/acl/web
  optional: true`, codes.PermissionDenied, []string{"denied"}},
		{"a missing key of a required object", `
- objectName: x
  secretPath: secret/data/keys
  secretKey: gone
- objectName: y
  secretPath: secret/data/keys
  secretKey: gone2
  optional: true`, codes.NotFound, []string{`key "gone"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.mount(t, map[string]string{"objects": tt.objects})
			checkStatus(t, err, tt.code, tt.want)
		})
	}
}
