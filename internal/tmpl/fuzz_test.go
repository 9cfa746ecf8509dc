package tmpl

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseExecute: any source, run on fixed data with small limits, must
// not panic or hang, must stay within OutputBytes, must fail only with the
// sentinels, and must not quote the secret unless the source does.
func FuzzParseExecute(f *testing.F) {
	for _, s := range []string{
		`{{ .db.password }}`,
		`{{ range .list }}{{ . | upper }}{{ end }}`,
		`{{$x := "aaaa"}}{{range until 100}}{{$x = cat $x $x}}{{end}}`,
		`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
		`{{ pemJoin .cert .chain }}`,
		`{{ index .db "nope" }}`,
		`{{ toYaml . | indent 4 }}`,
		`{{ regexReplaceAll "(s)" .db.password "$1$1" }}`,
		`{{ printf "%*d" 10 .db.port }}`,
		`{{ $d := dict }}{{ $_ := set $d "a" $d }}{{ $d }}`,
	} {
		f.Add(s)
	}
	const secret = "s3cr3t-Zq9"
	data := map[string]any{
		"db":    map[string]any{"password": secret, "port": "5432"},
		"list":  []any{"a", secret, nil},
		"cert":  "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----",
		"chain": []any{"-----BEGIN CERTIFICATE-----\nY\n-----END CERTIFICATE-----"},
	}
	lim := Limits{SourceBytes: 4 << 10, OutputBytes: 4 << 10, StringBytes: 4 << 10, Steps: 1000, Timeout: 100 * time.Millisecond, Depth: 20}
	f.Fuzz(func(t *testing.T, src string) {
		tp, err := Parse("obj", src, lim)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("parse error without sentinel: %v", err)
			}
			return
		}
		// A run past its Timeout would hang here: the fuzzer reports it.
		out, err := tp.Execute(context.Background(), nil, data)
		if len(out) > lim.OutputBytes {
			t.Fatalf("output %d bytes", len(out))
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrExec) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTimeout) {
			t.Fatalf("exec error without sentinel: %v", err)
		}
		if strings.Contains(err.Error(), secret) && !strings.Contains(src, secret) {
			t.Fatalf("error quotes the secret: %v", err)
		}
	})
}

func BenchmarkExecute(b *testing.B) {
	tp, err := Parse("obj", databaseYML, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	data := vaultJSON(b, dbSecret)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tp.Execute(ctx, nil, data); err != nil {
			b.Fatal(err)
		}
	}
}
