package tmpl

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account/accounttest"
)

func TestBounds(t *testing.T) {
	small := Limits{SourceBytes: 1 << 10, OutputBytes: 1 << 10, StringBytes: 1 << 10, Steps: 100, Timeout: time.Second, Depth: 10}
	tests := []struct {
		name string
		src  string
		lim  Limits
		want error
	}{
		{"source size", strings.Repeat("x", 1025), small, ErrTooLarge},
		{"doubling", `{{$x := "aaaa"}}{{range until 100}}{{$x = cat $x $x}}{{end}}`, DefaultLimits(), ErrTooLarge},
		{"repeat", `{{ repeat 1000000000 "x" }}`, DefaultLimits(), ErrTooLarge},
		{"negative repeat", `{{ repeat -1 "x" }}`, DefaultLimits(), ErrTooLarge},
		{"until", `{{ until 1000000000 }}`, DefaultLimits(), ErrTooLarge},
		{"untilStep overflow", `{{ untilStep 0 9223372036854775807 1 }}`, DefaultLimits(), ErrTooLarge},
		{"seq", `{{ seq -9223372036854775808 9223372036854775807 }}`, DefaultLimits(), ErrTooLarge},
		{"printf then repeat", `{{ printf "%01000000d" 0 | repeat 1000 }}`, DefaultLimits(), ErrTooLarge},
		{"printf many verbs", `{{ printf "` + strings.Repeat("%0999999d", 5) + `" 1 2 3 4 5 }}`, DefaultLimits(), ErrTooLarge},
		{"recursion", `{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`, DefaultLimits(), ErrTooLarge},
		{"wide recursion", `{{define "a"}}{{if lt (len .) 20}}{{template "a" (append . 1)}}{{template "a" (append . 1)}}{{end}}{{end}}{{template "a" list}}`, DefaultLimits(), ErrTimeout},
		{"range int", `{{ range 1000000000 }}{{ end }}`, DefaultLimits(), ErrTimeout},
		{"nested ranges", `{{ range 1000 }}{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}{{ end }}`, DefaultLimits(), ErrTimeout},
		{"output", `{{ range 100 }}` + strings.Repeat("x", 100) + `{{ end }}`, small, ErrTooLarge},
		{"output in one value", `{{ repeat 2000 "x" }}`, Limits{OutputBytes: 1000}, ErrTooLarge},
		{"replace empty", `{{ replace "" (repeat 1000 "y") (repeat 1000000 "x") }}`, DefaultLimits(), ErrTooLarge},
		{"indent", `{{ indent 1000000 (repeat 1000 "\n") }}`, DefaultLimits(), ErrTooLarge},
		{"join separator", `{{ join (repeat 100000 "s") (until 100000) }}`, DefaultLimits(), ErrTooLarge},
		{"wrapWith separator", `{{ wrapWith 1 (repeat 10000 "s") (repeat 10000 "x") }}`, DefaultLimits(), ErrTooLarge},
		{"many arguments", `{{ $x := repeat 100000 "x" }}{{ cat ` + strings.Repeat("$x ", 20) + `}}`, DefaultLimits(), ErrTooLarge},
		{"list of references", `{{ $x := repeat 100000 "x" }}{{ $l := list ` + strings.Repeat("$x ", 20) + `}}`, DefaultLimits(), ErrTooLarge},
		{"split bomb", `{{ splitList "" (repeat 1000000 "x") }}`, DefaultLimits(), ErrTooLarge},
		{"regexp replace bomb", `{{ regexReplaceAllLiteral "" (repeat 100000 "x") (repeat 100 "y") }}`, DefaultLimits(), ErrTooLarge},
		{"regexp expand bomb", `{{ regexReplaceAll ".*" (repeat 100000 "x") "$0$0$0$0$0$0$0$0$0$0$0$0" }}`, DefaultLimits(), ErrTooLarge},
		{"regexp program", `{{ regexMatch "` + strings.Repeat(`\\w{1000}`, 30) + `" "a" }}`, DefaultLimits(), ErrTooLarge},
		{"regexp cost", `{{ regexMatch "(a|b|c|d){500}" (repeat 1000000 "a") }}`, DefaultLimits(), ErrTooLarge},
		{"regexFindAll count", `{{ regexFindAll "" (repeat 1000000 "x") -1 }}`, DefaultLimits(), ErrTooLarge},
		{"cycle", `{{ $d := dict }}{{ $_ := set $d "a" $d }}{{ toJson $d }}`, DefaultLimits(), ErrTooLarge},
		{"deep nesting", `{{ $d := dict }}{{ range 2000 }}{{ $d = dict "a" $d }}{{ end }}{{ toJson $d }}`, DefaultLimits(), ErrTooLarge},
		{"pretty indentation", `{{ $d := list }}{{ range 500 }}{{ $d = list $d }}{{ end }}{{ $d = list $d (until 5000) }}{{ toPrettyJson $d }}`, DefaultLimits(), ErrTooLarge},
		{"uniq quadratic", `{{ uniq (until 100000) }}`, DefaultLimits(), ErrTooLarge},
		{"concat growth", `{{ $l := until 1000 }}{{ range 20 }}{{ $l = concat $l $l }}{{ end }}`, DefaultLimits(), ErrTooLarge},
		{"timeout", `{{ range 1000000 }}{{ sha256sum "x" }}{{ end }}`, Limits{Steps: 1 << 30, Timeout: 20 * time.Millisecond}, ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := tc.lim
			if tc.want == ErrTooLarge {
				// A size bound is what is tested: a loaded machine (-race,
				// every package at once) must not turn it into a timeout.
				lim = lim.withDefaults()
				lim.Timeout = time.Minute
			}
			out, err := render(t, tc.src, map[string]any{}, lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if out != "" {
				t.Errorf("output on error: %d bytes", len(out))
			}
		})
	}
}

func TestCancelled(t *testing.T) {
	tp, err := Parse("obj", `{{ range 100000 }}{{ end }}`, Limits{Steps: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tp.Execute(ctx, nil, nil); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrTimeout and context.Canceled", err)
	}
}

// TestConcurrent runs one template from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	tp, err := Parse("obj", `{{ range $i, $r := .replicas }}{{ $_ := set $ "n" $i }}{{ $r }}{{ end }}:{{ .password }}`, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	data := vaultJSON(t, dbSecret)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				out, err := tp.Execute(context.Background(), nil, data)
				if err != nil || string(out) != "r1r2:s3cr3t" {
					t.Errorf("got %q, %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestInstanceBytesCoversNewInstance(t *testing.T) {
	tp, err := Parse("t", `{{ .a | upper }}`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var in *instance
	got := accounttest.Allocated(func() { in = tp.newInstance() })
	runtime.KeepAlive(in)
	if got > instanceBytes {
		t.Errorf("newInstance allocated %d bytes, above instanceBytes %d", got, instanceBytes)
	}
}
