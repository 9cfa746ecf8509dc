package tmpl

import (
	"errors"
	"strings"
	"testing"
)

// TestNoSecretInErrors crafts failures around a secret value and checks that
// no error quotes it, nor its base64 or hex forms.
func TestNoSecretInErrors(t *testing.T) {
	data := vaultJSON(t, `{"password": "s3cr3t", "bad64": "s3cr3t!!", "json": "{s3cr3t", "yaml": "a: [s3cr3t", "n": "s3cr3t", "list": ["s3cr3t"], "m": {"s3cr3t": 1}}`)
	forms := []string{"s3cr3t", "czNjcjN0", "733363723374"}
	srcs := []string{
		`{{ .password.x }}`,                      // field on a string
		`{{ .nope }}`,                            // missing key
		`{{ index .list 5 }}`,                    // bad index
		`{{ index . .password }}`,                // computed missing key
		`{{ index .m (b64enc .password) }}`,      // computed missing key
		`{{ index .list .password }}`,            // non-integer index
		`{{ b64dec .bad64 }}`,                    // failing decoder
		`{{ b32dec .password }}`,                 // failing decoder
		`{{ fromJson .json }}`,                   // JSON error quoting input
		`{{ fromYaml .yaml }}`,                   // YAML error quoting input
		`{{ fail .password }}`,                   // user message from data
		`{{ fail (printf "bad %s" .password) }}`, // user message from data
		`{{ range .password }}{{ end }}`,         // text/template prints the value
		`{{ if .m.s3cr3t.x }}{{ end }}`,          // field on a number
		`{{ add .password 1 | repeat .password }}`,
		`{{ repeat .password "x" }}`,     // conversion error
		`{{ regexMatch .password "x" }}`, // fine regexp, so force the next
		`{{ regexMatch (cat "(" .password) "x" }}`,
		`{{ eq .password (list) }}`,             // text/template prints both values
		`{{ semverCompare .password "1.0.0" }}`, // error quoting the constraint
		`{{ toDecimal .password | div 1 0 }}`,   // panic
		`{{ slice .password 3 1 }}`,
		`{{ mustRegexFind .password .password | atoi | add 5 | index .list }}`,
		`{{ template "x" .password }}{{ define "x" }}{{ .y }}{{ end }}`,
		`{{ deepEqual .password | print }}`,
		`{{ urlParse .password | index .list }}`,
		`{{ printf "%s" .password | mustFromJson }}`,
		`{{ pemJoin .password 1 }}`,
		`{{ .list | first | int64 | until | index .list }}`,
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			out, err := render(t, src, data, DefaultLimits())
			if err == nil {
				if src == `{{ regexMatch .password "x" }}` {
					return
				}
				t.Fatalf("no error; output %q", out)
			}
			if !errors.Is(err, ErrExec) && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("err = %v: no sentinel", err)
			}
			for _, f := range forms {
				if strings.Contains(err.Error(), f) && !strings.Contains(src, f) {
					t.Errorf("error quotes the secret (%s): %v", f, err)
				}
			}
		})
	}
}
