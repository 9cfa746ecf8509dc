package nested

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// secret is the value no error may contain.
const secret = "s3cr3t"

const kvJSON = `{
  "db": {"password": "s3cr3t", "port": 5432, "user": "app", "hosts": ["db-0.internal", "db-1.internal"],
         "big": 12345678901234567890123},
  "tls.cert": {"pem": "s3cr3t-pem", "not-after": "2030-01-01"},
  "api-keys": [{"name": "ci", "key": "s3cr3t-ci", "scopes": ["read"], "active": true},
               {"name": "deploy", "key": "s3cr3t-deploy", "scopes": ["read", "write"], "active": false},
               {"name": "old", "key": "s3cr3t-old", "scopes": [], "active": true, "rotated": 3}],
  "empty": "",
  "nothing": null,
  "quote": "s3cr3t\"\\"
}`

func kv(t testing.TB) any {
	t.Helper()
	v, err := ParseJSONValue(kvJSON)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSelect(t *testing.T) {
	tests := []struct {
		expr string
		want any
	}{
		{"db.password", "s3cr3t"},
		{"db.port", json.Number("5432")},
		{"db.big", json.Number("12345678901234567890123")}, // exact, not a float
		{"db.hosts[0]", "db-0.internal"},
		{"db.hosts[-1]", "db-1.internal"},
		{`"tls.cert".pem`, "s3cr3t-pem"},
		{`"tls.cert"."not-after"`, "2030-01-01"},
		{`"api-keys"[?name == 'deploy'].key | [0]`, "s3cr3t-deploy"},
		{`"api-keys"[?active].name`, []any{"ci", "old"}},
		{`"api-keys"[?!active].name`, []any{"deploy"}},
		{`"api-keys"[?rotated > ` + "`2`" + `].name`, []any{"old"}},
		{`"api-keys"[?rotated == ` + "`3`" + ` || name == 'ci'].name`, []any{"ci", "old"}},
		{`"api-keys"[?contains(scopes, 'write')].name | [0]`, "deploy"},
		{`"api-keys"[*].scopes[]`, []any{"read", "read", "write"}},
		{`"api-keys"[1:].name`, []any{"deploy", "old"}},
		{`"api-keys"[::-1].name`, []any{"old", "deploy", "ci"}},
		{"db.hosts[0][3:]", "0.internal"},
		{"length(db.hosts)", json.Number("2")},
		{"keys(db)", []any{"big", "hosts", "password", "port", "user"}},
		{"sort(db.hosts)", []any{"db-0.internal", "db-1.internal"}},
		{"reverse(db.hosts)", []any{"db-1.internal", "db-0.internal"}},
		{"max(db.hosts)", "db-1.internal"},
		{"join(',', db.hosts)", "db-0.internal,db-1.internal"},
		{"to_string(db.port)", "5432"},
		{"to_string(db.hosts)", `["db-0.internal","db-1.internal"]`},
		{"to_number('42')", json.Number("42")},
		{"type(db)", "object"},
		{"starts_with(db.user, 'ap')", true},
		{"ends_with(db.user, 'p')", true},
		{"not_null(nothing, db.user)", "app"},
		{"db.user || 'default'", "app"},
		{"db.missing || 'default'", "default"},
		{"db.port == `5432.0`", true},
		{"@.db.user", "app"},
		{"db | user", "app"},
		{"length(values(db))", json.Number("5")},
	}
	v := kv(t)
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Select(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Select (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		expr string
		want []string // substrings of the error
	}{
		{"[db.user, db.password]", []string{"multiselect list", "column 1"}},
		{"db.[user, password]", []string{"multiselect list", "column 4"}},
		{"{u: db.user}", []string{"multiselect hash", "column 1"}},
		{"[@,@]|[@,@]|[@,@][][]", []string{"multiselect list"}},
		{"let $x = db in $x", []string{"let or a $variable", "column 5"}},
		{"db.hosts[?$]", []string{"root node $", "column 11"}},
		{"db.port + `1`", []string{"arithmetic"}},
		{"`[1, 2]`", []string{"array or object literal", "column 1"}},
		{"db.user == `{\"a\": 1}`", []string{"array or object literal", "column 12"}},
		{"pad_left(db.user, `99`)", []string{`function "pad_left"`, "column 1"}},
		{"db.hosts | replace(@, 'a', 'b')", []string{`function "replace"`, "column 12"}},
		{"to_array(@)", []string{`function "to_array"`}},
		{"nope(@)", []string{`function "nope"`}},
		{"'(' && sort_by(@, &a)", []string{`function "sort_by"`, "column 8"}},
		{"length(a, b)", []string{"length takes 1 argument"}},
		{"db.hosts[::0]", []string{"slice step cannot be 0"}},
		{"db.", []string{"column 4"}},
		{"db[?", []string{"column 5"}},
		{"\"unterminated", []string{"Unclosed delimiter"}},
		{"db.hosts[99999999999999999999999]", []string{"invalid jmesPath"}},
		{strings.Repeat("!", 40) + "a", []string{"nested more than 32 levels"}},
		{strings.Repeat("a.", MaxExprBytes/2) + "a", []string{"more than 1024"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Compile error %v, want ErrSyntax", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestSelectNotFound(t *testing.T) {
	many := map[string]any{}
	for i := range 25 {
		many[fmt.Sprintf("k%02d", i)] = secret
	}
	tests := []struct {
		expr string
		data any // nil: kv
		want []string
	}{
		{"db.pasword", nil, []string{`db has no key "pasword"`, `"big", "hosts", "password", "port", "user"`}},
		{"nope.x", nil, []string{`the secret has no key "nope"`, `"api-keys"`, `"tls.cert"`}},
		{"nothing", nil, []string{`a null value at key "nothing"`}},
		{"db.hosts[2]", nil, []string{"index 2 is out of range", "db.hosts is an array of 2 elements"}},
		{"db.password.x", nil, []string{"db.password is a string, not an object"}},
		{"db.password[0]", nil, []string{"db.password is a string, not an array"}},
		{`"tls.cert".key`, nil, []string{`"tls.cert" has no key "key"`, `"not-after", "pem"`}},
		{`"api-keys"[0].nope`, nil, []string{`"api-keys"[0] has no key "nope"`, `"active"`}},
		{"db.port.x", nil, []string{"db.port is a number, not an object"}},
		{"db[?x] | [0]", nil, []string{"selected null", `"db"`}},
		{"k99", many, []string{`"k00"`, `"k19"`, "and 5 more"}},
		{"a", []any{secret}, []string{"the secret is an array, not an object"}},
		{"[0] | a", []any{secret}, []string{"selected null", "an array of 1 elements"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			data := tt.data
			if data == nil {
				data = kv(t)
			}
			_, err := MustCompile(t, tt.expr).Select(nil, data)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Select error %v, want ErrNotFound", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a secret value", err)
			}
		})
	}
}

func TestSelectErrorsHideValues(t *testing.T) {
	tests := []struct {
		expr string
		want error
	}{
		{"length(db.port)", ErrType},
		{"starts_with(db.password, `1`)", ErrType},
		{"join(',', db.*)", ErrType},
		{"sort(db.*)", ErrType},
		{"keys(db.password)", ErrType},
		{"contains(db.port, 'x')", ErrType},
	}
	v := kv(t)
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := MustCompile(t, tt.expr).Select(nil, v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Select error %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a secret value", err)
			}
		})
	}
}

// TestSelectBounded runs expressions that would take quadratic or
// exponential work without the budget; each must stop with ErrLimit or
// finish, never run away.
func TestSelectBounded(t *testing.T) {
	big := make([]any, 100_000)
	for i := range big {
		big[i] = map[string]any{"n": json.Number(fmt.Sprint(i)), "s": secret, "l": []any{secret, secret}}
	}
	empties := make([]any, 100_000)
	for i := range empties {
		empties[i] = ""
	}
	quotes := any(strings.Repeat(`"`, 1_000_000))
	for range 10 {
		quotes = []any{quotes}
	}
	nested := "to_string(@)"
	for range 10 {
		nested = "to_string([*]." + nested + ")"
	}
	tests := []struct {
		name, expr string
		data       any
		limit      bool // want ErrLimit
	}{
		{"filter", "[?n == `99999`].s | [0]", big, false},
		{"nested projections", "[*].l[*][]", big, false},
		{"sort", "sort([*].n)", big, false},
		{"to_string", "length(to_string(@))", big, false},
		{"join", "join([0].s, [*].s)", big, false},
		{"join with a long separator", "join(sep, l)", map[string]any{"sep": strings.Repeat("x", 1<<20), "l": empties}, true},
		{"pipes of projections", strings.TrimSuffix(strings.Repeat("[*] | ", 30), " | "), big, false},
		{"work budget", "[*].l[*][]" + strings.Repeat(" | [?@ != 'x']", 20), big, true},
		{"escaping doubles per level", nested, quotes, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MustCompile(t, tt.expr).Select(nil, tt.data)
			if tt.limit != errors.Is(err, ErrLimit) {
				t.Fatalf("Select error %v, want ErrLimit: %v", err, tt.limit)
			}
			if !tt.limit && err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseJSONValue(t *testing.T) {
	tests := []struct {
		in      string
		want    any
		wantErr string
	}{
		{`{"port": 5432}`, map[string]any{"port": json.Number("5432")}, ""},
		{` [1, "a"] `, []any{json.Number("1"), "a"}, ""},
		{`{"a": "s3cr3t"} trailing`, nil, "data after the JSON value"},
		{`{"a": s3cr3t}`, nil, "syntax error at byte"},
		{`{"a": "s3cr3t"`, nil, "ends early"},
		{``, nil, "empty"},
		{strings.Repeat("[", 101) + strings.Repeat("]", 101), nil, "nested more than 100"},
		{`"[[[[` + strings.Repeat("[", 200) + `"`, strings.Repeat("[", 204), ""},
	}
	for _, tt := range tests {
		t.Run(truncate(tt.in, 20), func(t *testing.T) {
			got, err := ParseJSONValue(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrJSON) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrJSON with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "'s'") {
					t.Errorf("error %q shows the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestConcurrentSelect(t *testing.T) {
	e := MustCompile(t, `"api-keys"[?active].key`)
	v := kv(t)
	done := make(chan error)
	for range 8 {
		go func() {
			_, err := e.Select(nil, v)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func MustCompile(t testing.TB, expr string) *Expr {
	t.Helper()
	e, err := Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func FuzzCompileSelect(f *testing.F) {
	for _, s := range []string{"db.password", `"api-keys"[?active].key | [0]`, "db.hosts[::-1]", "to_string(@)",
		"join(',', db.hosts)", "[*].l[*][]", "{a: b}", "db.port > `1`", "sort(keys(@))", "db.password[1:]"} {
		f.Add(s)
	}
	v, err := ParseJSONValue(kvJSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := Compile(expr)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Compile error %v is not ErrSyntax", err)
			}
			return
		}
		if _, err := e.Select(nil, v); err != nil && strings.Contains(err.Error(), secret) && !strings.Contains(expr, secret) {
			t.Fatalf("error %q shows a secret value", err)
		}
	})
}

func BenchmarkSelect(b *testing.B) {
	big := make([]any, 100_000)
	for i := range big {
		big[i] = map[string]any{"n": json.Number(fmt.Sprint(i)), "s": secret, "l": []any{secret, secret}}
	}
	for _, expr := range []string{
		"db.password",
		"[?n == `99999`].s | [0]",
		"[*].l[*][]",
		"sort([*].n)",
		"length(to_string(@))",
		strings.TrimSuffix(strings.Repeat("[*] | ", 30), " | "),
	} {
		e := MustCompile(b, expr)
		data := any(big)
		if expr == "db.password" {
			data = kv(b)
		}
		b.Run(truncate(expr, 24), func(b *testing.B) {
			for b.Loop() {
				_, _ = e.Select(nil, data)
			}
		})
	}
}
