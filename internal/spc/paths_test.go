package spc

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateFilePath(t *testing.T) {
	long := strings.Repeat("a", 255)
	tests := []struct {
		path string
		want string // "" = valid; else a substring of the error
	}{
		{path: "password"},
		{path: "dir/file"},
		{path: "a/b/c.d/.hidden"},
		{path: "x..y"},
		{path: "a/" + long},
		{path: strings.Repeat(strings.Repeat("a", 254)+"/", 16) + strings.Repeat("b", 16)}, // 4096 bytes
		{path: "", want: "file path is empty"},
		{path: "/etc/passwd", want: `file path "/etc/passwd" is absolute: remove the leading "/"`},
		{path: "dir/", want: `file path "dir/" ends with "/"`},
		{path: "a//b", want: `file path "a//b" has an empty element: use a single "/" between directories ("a/b")`},
		{path: "./a", want: `file path "./a" has a "." element`},
		{path: "a/.", want: `has a "." element`},
		{path: "..", want: `file path ".." has a ".." element, which would leave the volume`},
		{path: "a/../../b", want: `has a ".." element`},
		{path: "..data", want: `has an element starting with ".." ("..data")`},
		{path: "a/..x/b", want: `("..x"), a prefix the driver reserves`},
		{path: "a\\b", want: "contains a backslash"},
		{path: "a\x00b", want: "contains a control character (U+0000 at byte 1)"},
		{path: "a\nb", want: "contains a control character (U+000A at byte 1)"},
		{path: "a\u0085b", want: "contains a control character (U+0085 at byte 1)"},
		{path: "a/" + long + "b", want: "has an element of 256 bytes: shorten each name to at most 255 bytes"},
		{path: strings.Repeat("a/", 2048) + "b", want: "file path is 4097 bytes long: shorten it to at most 4096 bytes"},
	}
	for _, tc := range tests {
		name := tc.path
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			err := ValidateFilePath(tc.path)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateFilePath(%q) = %v, want nil", tc.path, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ValidateFilePath(%q) = %v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestParseSecretPath(t *testing.T) {
	tests := []struct {
		raw       string
		wantPath  string
		wantQuery url.Values
		wantErr   string
	}{
		{raw: "secret/data/x", wantPath: "secret/data/x"},
		{raw: "/secret/data/x", wantPath: "secret/data/x"},
		{raw: "v1/secret/data/x", wantPath: "secret/data/x"},
		{raw: "/v1/secret/data/x?version=2", wantPath: "secret/data/x", wantQuery: url.Values{"version": {"2"}}},
		{raw: "database/creds/ro?a=1&a=2&b=", wantPath: "database/creds/ro", wantQuery: url.Values{"a": {"1", "2"}, "b": {""}}},
		{raw: "secret/metadata/?list=true", wantPath: "secret/metadata/", wantQuery: url.Values{"list": {"true"}}},
		{raw: "v1", wantPath: "v1"},
		{raw: "v1x/secret", wantPath: "v1x/secret"},
		{raw: "secret/data/x?", wantPath: "secret/data/x"},
		{raw: "/", wantErr: `secretPath "/" names no Vault path`},
		{raw: "v1/?x=1", wantErr: "names no Vault path"},
		{raw: "/v1//secret", wantErr: `secretPath "/v1//secret" has an empty element`},
		{raw: "secret//x", wantErr: "has an empty element"},
		{raw: "secret/./x", wantErr: `has a "." element`},
		{raw: "secret/data/..", wantErr: `has a ".." element`},
		{raw: "secret/x?a=%2", wantErr: `secretPath "secret/x?a=%2" has an invalid query`},
		{raw: "secret/x?a=1;b=2", wantErr: "has an invalid query"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			path, query, err := parseSecretPath(tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("parseSecretPath(%q) error = %v, want one containing %q", tc.raw, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSecretPath(%q): %v", tc.raw, err)
			}
			if diff := cmp.Diff(tc.wantPath, path); diff != "" {
				t.Errorf("path mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQuery, query); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
