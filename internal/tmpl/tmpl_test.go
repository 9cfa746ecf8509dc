package tmpl

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// vaultJSON decodes like the provider does: UseNumber.
func vaultJSON(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func render(t testing.TB, src string, data any, lim Limits) (string, error) {
	t.Helper()
	tp, err := Parse("obj", src, lim)
	if err != nil {
		return "", err
	}
	out, err := tp.Execute(context.Background(), nil, data)
	return string(out), err
}

const dbSecret = `{"username": "app", "password": "s3cr3t", "host": "db.internal", "port": 5432, "ssl": true, "replicas": ["r1", "r2"]}`

const pkiSecret = `{
  "certificate": "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n",
  "private_key": "-----BEGIN RSA PRIVATE KEY-----\nKEY\n-----END RSA PRIVATE KEY-----",
  "issuing_ca": "\n-----BEGIN CERTIFICATE-----\nINT\n-----END CERTIFICATE-----\n\n",
  "ca_chain": ["-----BEGIN CERTIFICATE-----\nINT\n-----END CERTIFICATE-----", "", "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n"],
  "serial_number": "39:dd"
}`

// databaseYML is a realistic template over database credentials.
const databaseYML = `production:
  adapter: postgresql
  host: {{ .host }}
  port: {{ .port }}
  username: {{ .username | quote }}
  password: {{ .password | quote }}
  sslmode: {{ ternary "require" "disable" .ssl }}
  replicas:
{{- range .replicas }}
    - {{ . }}
{{- end }}
`

func TestRender(t *testing.T) {
	db := vaultJSON(t, dbSecret)
	pki := vaultJSON(t, pkiSecret)
	tests := []struct {
		name, src string
		data      any
		want      string
	}{
		{"database.yml", databaseYML, db, `production:
  adapter: postgresql
  host: db.internal
  port: 5432
  username: "app"
  password: "s3cr3t"
  sslmode: require
  replicas:
    - r1
    - r2
`},
		{"application.properties", `spring.datasource.url=jdbc:postgresql://{{ .host }}:{{ .port }}/app
spring.datasource.username={{ .username }}
spring.datasource.password={{ .password }}
spring.datasource.hikari.maximum-pool-size={{ mul 2 (len .replicas) }}
`, db, `spring.datasource.url=jdbc:postgresql://db.internal:5432/app
spring.datasource.username=app
spring.datasource.password=s3cr3t
spring.datasource.hikari.maximum-pool-size=4
`},
		{"PEM bundle", `{{ pemJoin .certificate .ca_chain }}`, pki,
			"-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n" +
				"-----BEGIN CERTIFICATE-----\nINT\n-----END CERTIFICATE-----\n" +
				"-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n"},
		{"PEM key and issuer", `{{ pemJoin .private_key .issuing_ca nil "" }}`, pki,
			"-----BEGIN RSA PRIVATE KEY-----\nKEY\n-----END RSA PRIVATE KEY-----\n" +
				"-----BEGIN CERTIFICATE-----\nINT\n-----END CERTIFICATE-----\n"},
		{"json.Number add", `{{ add 1 .port }} {{ add1 .port }} {{ sub .port 2 }}`, db, "5433 5433 5430"},
		{"json.Number as int parameter", `{{ repeat (div .port 1000) "ab" }} {{ trunc .port "xyz" }}`, db, "ababababab xyz"},
		{"json.Number as string parameter", `{{ b64enc .port }} {{ upper .port }}`, db, "NTQzMg== 5432"},
		{"numeric string as int parameter", `{{ repeat "3" "z" }}`, nil, "zzz"},
		{"toJson keeps numbers", `{{ toJson (pick . "port" "ssl") }}`, db, `{"port":5432,"ssl":true}`},
		{"toYaml writes numbers", "{{ toYaml (pick . \"port\" \"host\") }}", db, "host: db.internal\nport: 5432"},
		{"fromYaml", `{{ (fromYaml "a:\n  b: [1, 2]").a.b | toJson }}`, nil, `[1,2]`},
		{"fromJson uses json.Number", `{{ (fromJson "{\"n\": 12345678901234567890}").n }}`, nil, "12345678901234567890"},
		{"b64 round trip", `{{ .password | b64enc | b64dec }}`, db, "s3cr3t"},
		{"index", `{{ index . "replicas" 1 }} {{ index "ab" 0 }}`, db, "r2 97"},
		{"dict and set on a copy", `{{ $_ := set . "username" "x" }}{{ .username }}`, db, "x"},
		{"until and seq", `{{ until 3 }} {{ untilStep 10 0 -4 }} {{ seq 3 }} {{ seq 5 -2 1 }} {{ seq 2 4 }}`, nil, "[0 1 2] [10 6 2] 1 2 3 5 3 1 2 3 4"},
		{"regexReplaceAll", `{{ regexReplaceAll "(\\w+)@(\\w+)" "a@b c@d" "${2}:${1}" }}`, nil, "b:a d:c"},
		{"printf", `{{ printf "%05d|%s" 42 "x" }}`, nil, "00042|x"},
		{"define and template", `{{ define "kv" }}{{ .k }}={{ .v }}{{ end }}{{ template "kv" (dict "k" "a" "v" 1) }}`, nil, "a=1"},
		{"empty", ``, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(t, tc.src, tc.data, DefaultLimits())
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDataNotMutated(t *testing.T) {
	data := vaultJSON(t, dbSecret)
	tp, err := Parse("obj", `{{ $_ := set . "password" "x" }}{{ $_ := unset . "host" }}{{ $_ := set (index . "replicas" | first | dict "r") "r" 1 }}`, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Execute(context.Background(), nil, data); err != nil {
		t.Fatal(err)
	}
	m := data.(map[string]any)
	if m["password"] != "s3cr3t" || m["host"] != "db.internal" {
		t.Errorf("caller's data changed: %v", m)
	}
}

func TestMissing(t *testing.T) {
	data := vaultJSON(t, `{"db": {"password": "s3cr3t", "nothing": null}, "list": ["a"]}`)
	tests := []struct{ name, src, wantKey string }{
		{"field", `{{ .db.username }}`, `"username"`},
		{"top-level field", "line1\n{{ .ca_chain }}", `"ca_chain"`},
		{"index key", `{{ index .db "username" }}`, `"username"`},
		{"index out of range", `{{ index .list 3 }}`, "out of range"},
		{"through null", `{{ .db.nothing.x }}`, "nil pointer"},
		{"long key truncated", `{{ .db.` + strings.Repeat("k", 200) + ` }}`, `"` + strings.Repeat("k", 64) + `..."`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.src, data, DefaultLimits())
			if !errors.Is(err, ErrMissing) || !errors.Is(err, ErrExec) {
				t.Fatalf("err = %v, want ErrMissing and ErrExec", err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) || !strings.HasPrefix(err.Error(), "obj: line ") {
				t.Errorf("err = %q, want it to name the template, the line and %s", err, tc.wantKey)
			}
			if strings.Count(err.Error(), "k") > 64+64+2 {
				t.Errorf("key not truncated: %q", err)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	long := strings.Repeat("x", 10000)
	tests := []struct{ name, src, want string }{
		{"unclosed action", "a\nb\n{{ .x", "obj: line 3: "},
		{"unknown function", "\n\n\n{{ nope 1 }}", `obj: line 4: function "nope" not defined`},
		{"stray end", "x\n{{ end }}", "obj: line 2: "},
		{"long identifier", "{{ " + long + " }}", "obj: line 1: "},
		{"long bad number", "{{ 1" + long + "e }}", "obj: line 1: "},
		{"hidden budget function", "{{ " + fnLeave + " }}", "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("obj", tc.src, DefaultLimits())
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want %q in it", err, tc.want)
			}
			if len(err.Error()) > 200 {
				t.Errorf("message is %d bytes: %q", len(err.Error()), err)
			}
		})
	}
}

// TestRemovedFunctions: every non-hermetic or random sprig function is
// unknown at parse time.
func TestRemovedFunctions(t *testing.T) {
	for _, name := range append(removed, "randAlphaNum", "uuidv4", "now", "env", "expandenv", "getHostByName", "date") {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("obj", "{{ "+name+" }}", DefaultLimits())
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "not defined") {
				t.Errorf("err = %v, want function not defined", err)
			}
		})
	}
}
