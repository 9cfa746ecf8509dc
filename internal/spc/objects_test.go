package spc

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mode(m int32) *int32 { return &m }

func TestParseObjects(t *testing.T) {
	base := func(mod func(*Object)) Object {
		o := Object{Name: "f", Path: "secret/data/app", Method: "GET", Encoding: EncodingUTF8}
		if mod != nil {
			mod(&o)
		}
		if o.Kind() == KindWhole && o.Shape == "" {
			o.Shape = ShapeResponse
		}
		return o
	}
	tests := []struct {
		name string
		yaml string
		want []Object
	}{
		{name: "minimal", yaml: "- objectName: f\n  secretPath: secret/data/app", want: []Object{base(nil)}},
		{
			name: "every field",
			yaml: `
- objectName: certs/tls.crt
  secretPath: /v1/pki/issue/web?ttl=1h
  secretKey: certificate
  method: post
  secretArgs:
    common_name: web.example.com
    alt_names: [a, b]
    ttl: 3600
    nested: {x: {y: true}}
  encoding: Base64
  filePermission: 0640
`,
			want: []Object{{
				Name: "certs/tls.crt", Path: "pki/issue/web", Query: url.Values{"ttl": {"1h"}}, Key: "certificate", Method: "POST",
				Args: map[string]any{
					"common_name": "web.example.com", "alt_names": []any{"a", "b"}, "ttl": 3600,
					"nested": map[string]any{"x": map[string]any{"y": true}},
				},
				Encoding: EncodingBase64, Mode: mode(0o640),
			}},
		},
		{name: "path with /v1/ and query", yaml: "- objectName: f\n  secretPath: /v1/secret/data/app?version=2",
			want: []Object{base(func(o *Object) { o.Query = url.Values{"version": {"2"}} })}},
		{name: "path with v1/", yaml: "- objectName: f\n  secretPath: v1/secret/data/app", want: []Object{base(nil)}},
		{name: "path with leading slash", yaml: "- objectName: f\n  secretPath: /secret/data/app", want: []Object{base(nil)}},
		{name: "empty query", yaml: "- objectName: f\n  secretPath: secret/data/app?", want: []Object{base(nil)}},
		{name: "list path keeps its trailing slash", yaml: "- objectName: f\n  secretPath: secret/metadata/?list=true",
			want: []Object{base(func(o *Object) { o.Path, o.Query = "secret/metadata/", url.Values{"list": {"true"}} })}},
		{name: "method PUT any case", yaml: "- objectName: f\n  secretPath: secret/data/app\n  method: pUt",
			want: []Object{base(func(o *Object) { o.Method = "PUT" })}},
		{name: "method GET explicit", yaml: "- objectName: f\n  secretPath: secret/data/app\n  method: get", want: []Object{base(nil)}},
		{name: "encoding hex", yaml: "- objectName: f\n  secretPath: secret/data/app\n  secretKey: k\n  encoding: HEX",
			want: []Object{base(func(o *Object) { o.Key = "k"; o.Encoding = EncodingHex })}},
		{name: "encoding UTF-8", yaml: "- objectName: f\n  secretPath: secret/data/app\n  encoding: UTF-8", want: []Object{base(nil)}},
		{name: "encoding utf8", yaml: "- objectName: f\n  secretPath: secret/data/app\n  encoding: utf8", want: []Object{base(nil)}},
		{name: "yaml octal int permission", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: 0600",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o600) })}},
		{name: "yaml 0o int permission", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: 0o444",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o444) })}},
		{name: "decimal int permission is the mode number", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: 420",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o644) })}},
		{name: "string permission 0640", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: \"0640\"",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o640) })}},
		{name: "string permission 640", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: '640'",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o640) })}},
		{name: "string permission 0o640", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: \"0o640\"",
			want: []Object{base(func(o *Object) { o.Mode = mode(0o640) })}},
		{name: "permission 0 means the driver default", yaml: "- objectName: f\n  secretPath: secret/data/app\n  filePermission: 0",
			want: []Object{base(nil)}},
		{name: "null and empty values are unset", yaml: "- objectName: f\n  secretPath: secret/data/app\n  secretKey: ~\n  method: \"\"\n  secretArgs: null\n  filePermission: ''",
			want: []Object{base(nil)}},
		{name: "numeric secretKey is taken as written", yaml: "- objectName: f\n  secretPath: secret/data/app\n  secretKey: 0123",
			want: []Object{base(func(o *Object) { o.Key = "0123" })}},
		{name: "flow style and aliases", yaml: "- &o {objectName: f, secretPath: secret/data/app}\n- {objectName: g, secretPath: secret/data/app, secretArgs: {k: *o}}",
			want: []Object{base(nil), base(func(o *Object) {
				o.Name, o.Args = "g", map[string]any{"k": map[string]any{"objectName": "f", "secretPath": "secret/data/app"}}
			})}},
		{name: "merge keys: explicit fields win, earlier merged maps win",
			yaml: "- &base {objectName: base, secretPath: secret/data/app, method: PUT}\n- {objectName: e, secretPath: secret/data/app, secretArgs: &enc {encoding: hex, method: POST}}\n- {<<: [*enc, *base], objectName: f, secretKey: k}\n- {<<: *base, objectName: g, method: GET}",
			want: []Object{
				base(func(o *Object) { o.Name, o.Method = "base", "PUT" }),
				base(func(o *Object) { o.Name, o.Args = "e", map[string]any{"encoding": "hex", "method": "POST"} }),
				base(func(o *Object) { o.Key, o.Method, o.Encoding = "k", "POST", EncodingHex }),
				base(func(o *Object) { o.Name = "g" }),
			}},
		{name: "custom-tagged nested key becomes a string key", yaml: "- {objectName: f, secretPath: secret/data/app, secretArgs: {a: [1, {!t k: v}]}}",
			want: []Object{base(func(o *Object) { o.Args = map[string]any{"a": []any{1, map[string]any{"k": "v"}}} })}},
		{name: "new fields", yaml: `
- {objectName: a, secretPath: s/a, jsonShape: Data}
- {objectName: b, secretPath: s/a, secretKey: k, jmesPath: x.y, optional: true}
- {objectName: c, secretPath: s/a, keysAsFiles: true, templateOnly: "true"}
- {objectName: d, secretPath: s/a, keysAsFiles: [u, p], filePermission: 0400}
- {objectName: e, template: "x={{ .a }}\n"}`,
			want: []Object{
				base(func(o *Object) { o.Name, o.Path, o.Shape = "a", "s/a", ShapeData }),
				base(func(o *Object) { o.Name, o.Path, o.Key, o.JMESPath, o.Optional = "b", "s/a", "k", "x.y", true }),
				base(func(o *Object) { o.Name, o.Path, o.KeysAsFiles, o.TemplateOnly = "c", "s/a", true, true }),
				base(func(o *Object) {
					o.Name, o.Path, o.KeysAsFiles, o.Keys, o.Mode = "d", "s/a", true, []string{"u", "p"}, mode(0o400)
				}),
				{Name: "e", Template: "x={{ .a }}\n", Encoding: EncodingUTF8},
			}},
		{name: "siblings in one directory", yaml: "- {objectName: dir/a, secretPath: s/a}\n- {objectName: dir/b, secretPath: s/b}\n- {objectName: dirx, secretPath: s/c}",
			want: []Object{
				{Name: "dir/a", Path: "s/a", Method: "GET", Encoding: EncodingUTF8, Shape: ShapeResponse},
				{Name: "dir/b", Path: "s/b", Method: "GET", Encoding: EncodingUTF8, Shape: ShapeResponse},
				{Name: "dirx", Path: "s/c", Method: "GET", Encoding: EncodingUTF8, Shape: ShapeResponse},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var probs problems
			got, _ := parseObjects(tc.yaml, DefaultLimits(), &probs)
			if len(probs.list) > 0 {
				t.Fatalf("problems: %q", probs.list)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseObjects mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseObjectsErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in one problem; as many problems as entries
	}{
		{name: "empty", yaml: "  \n", want: []string{"no objects"}},
		{name: "only a comment", yaml: "# nothing\n", want: []string{"no objects"}},
		{name: "empty list", yaml: "[]", want: []string{"no objects"}},
		{name: "malformed", yaml: "- objectName: a\n secretPath: b\n  - x", want: []string{"objects is not valid YAML: yaml: line"}},
		{name: "a map, not a list", yaml: "objectName: a\nsecretPath: b", want: []string{`objects must be a YAML list (items start with "- "), not a map`}},
		{name: "item not a map", yaml: "- objectName: a\n  secretPath: b\n- just-a-string",
			want: []string{`object #2 (line 3) must be a map of fields`}},
		{name: "missing objectName", yaml: "- secretPath: b", want: []string{"object #1 (line 1): objectName is required"}},
		{name: "missing secretPath", yaml: "- objectName: a", want: []string{`object "a": secretPath is required`}},
		{name: "case typo", yaml: "- objectName: a\n  secretPath: b\n  secretkey: c",
			want: []string{`object "a": unknown field "secretkey": did you mean "secretKey"?`}},
		{name: "unknown field lists valid ones", yaml: "- objectName: a\n  secretPath: b\n  objectAlias: c",
			want: []string{`object "a": unknown field "objectAlias": valid fields are objectName, secretPath, secretKey, method, secretArgs, encoding, filePermission`}},
		{name: "field twice", yaml: "- objectName: a\n  secretPath: b\n  secretPath: c", want: []string{`object "a": field secretPath is given more than once`}},
		{name: "non-scalar field name", yaml: "- objectName: a\n  secretPath: b\n  ? [x]\n  : y", want: []string{`object "a": field names must be plain strings`}},
		{name: "objectName a list", yaml: "- objectName: [a]\n  secretPath: b",
			want: []string{"object #1 (line 1): objectName must be a single value, not a list", "objectName is required"}},
		{name: "merge of a non-map", yaml: "- {objectName: a, secretPath: b, <<: [x]}", want: []string{`object "a": a merge key (<<) needs a map or a list of maps`}},
		{name: "self-merging object", yaml: "- &a {objectName: a, secretPath: b, <<: *a}", want: []string{"objects has more than 50000 YAML nodes once its aliases"}},
		{name: "duplicate objectName", yaml: "- {objectName: a, secretPath: b}\n- {objectName: c, secretPath: b}\n- {objectName: a, secretPath: d}",
			want: []string{`objectName "a" is used by objects #1 and #3: each objectName must be unique`}},
		{name: "file and directory clash", yaml: "- {objectName: a/b/c, secretPath: x}\n- {objectName: a, secretPath: y}",
			want: []string{`object "a/b/c": objectName "a/b/c" needs "a" to be a directory, but object "a" writes a file there`}},
		{name: "unsafe objectName", yaml: "- {objectName: ../../etc/cron.d/x, secretPath: x}",
			want: []string{`object "../../etc/cron.d/x": objectName: file path "../../etc/cron.d/x" has a ".." element`}},
		{name: "reserved objectName", yaml: "- {objectName: ..data, secretPath: x}", want: []string{`object "..data": objectName: file path "..data" has an element starting with ".."`}},
		{name: "secretPath dot-dot", yaml: "- {objectName: a, secretPath: secret/data/../../sys/seal}",
			want: []string{`object "a": secretPath "secret/data/../../sys/seal" has a ".." element`}},
		{name: "secretPath empty element", yaml: "- {objectName: a, secretPath: secret//data}", want: []string{`object "a": secretPath "secret//data" has an empty element`}},
		{name: "secretPath only prefix", yaml: "- {objectName: a, secretPath: /v1/}", want: []string{`object "a": secretPath "/v1/" names no Vault path`}},
		{name: "secretPath bad query", yaml: "- {objectName: a, secretPath: 'secret/data/a?version=%zz'}", want: []string{`object "a": secretPath "secret/data/a?version=%zz" has an invalid query`}},
		{name: "bad method", yaml: "- {objectName: a, secretPath: b, method: LIST}", want: []string{`object "a": method "LIST" is not supported: use GET, PUT or POST`}},
		{name: "bad encoding", yaml: "- {objectName: a, secretPath: b, encoding: base32}", want: []string{`object "a": encoding "base32" is not supported: use utf-8, base64 or hex`}},
		{name: "encoding without secretKey", yaml: "- {objectName: a, secretPath: b, encoding: base64}", want: []string{`object "a": encoding base64 needs secretKey`}},
		{name: "secretArgs not a map", yaml: "- {objectName: a, secretPath: b, secretArgs: [1, 2]}", want: []string{`object "a": secretArgs must be a map`}},
		{name: "secretArgs non-string nested key", yaml: "- {objectName: a, secretPath: b, secretArgs: {n: {2: x}}}",
			want: []string{`object "a": secretArgs.n has key 2 that is not a string: quote it`}},
		{name: "secretArgs not JSON", yaml: "- {objectName: a, secretPath: b, secretArgs: {x: .inf}}", want: []string{`object "a": secretArgs cannot be sent as JSON`}},
		{name: "permission out of range", yaml: "- {objectName: a, secretPath: b, filePermission: 640}",
			want: []string{`object "a": filePermission 640 is 01200 in octal, above 0777`}},
		{name: "string permission not octal", yaml: "- {objectName: a, secretPath: b, filePermission: \"0999\"}",
			want: []string{`object "a": filePermission "0999" is not an octal number`}},
		{name: "unquoted permission not octal", yaml: "- {objectName: a, secretPath: b, filePermission: 0999}",
			want: []string{`object "a": filePermission 0999 is not an octal number`}},
		{name: "negative permission", yaml: "- {objectName: a, secretPath: b, filePermission: -1}", want: []string{`object "a": filePermission -1 is not a file mode`}},
		{name: "permission a map", yaml: "- {objectName: a, secretPath: b, filePermission: {x: 1}}", want: []string{`object "a": filePermission must be a file mode, not a map`}},
		{name: "permission a bool", yaml: "- {objectName: a, secretPath: b, filePermission: true}", want: []string{`object "a": filePermission true is not an octal number`}},
		{name: "jsonShape unknown", yaml: "- {objectName: a, secretPath: b, jsonShape: yaml}", want: []string{`object "a": jsonShape "yaml" is not supported`}},
		{name: "jsonShape with secretKey", yaml: "- {objectName: a, secretPath: b, secretKey: k, jsonShape: data}",
			want: []string{`object "a": jsonShape is for an object that writes the whole secret`}},
		{name: "jmesPath refused", yaml: "- {objectName: a, secretPath: b, jmesPath: '{x: y}'}", want: []string{`object "a": jmesPath: invalid jmesPath expression`}},
		{name: "jmesPath malformed", yaml: "- {objectName: a, secretPath: b, jmesPath: 'a.[b'}", want: []string{`object "a": jmesPath: invalid jmesPath expression`}},
		{name: "keysAsFiles not a bool", yaml: "- {objectName: a, secretPath: b, keysAsFiles: yes please}", want: []string{`object "a": keysAsFiles must be true or false, not yes please`}},
		{name: "keysAsFiles empty list", yaml: "- {objectName: a, secretPath: b, keysAsFiles: []}", want: []string{`object "a": keysAsFiles lists no keys`}},
		{name: "keysAsFiles unsafe keys", yaml: "- {objectName: a, secretPath: b, keysAsFiles: [x/y, .., ok, ok]}",
			want: []string{`key "x/y" contains "/"`, `key ".." is not a safe file name`, `lists key "ok" twice`}},
		{name: "keysAsFiles directory and a file inside it", yaml: "- {objectName: d, secretPath: b, keysAsFiles: true}\n- {objectName: d/x, secretPath: c}",
			want: []string{`object "d/x": its file "d/x" is inside "d", where object "d" writes every key of its secret`}},
		{name: "keysAsFiles listed key and another object's file", yaml: "- {objectName: d, secretPath: b, keysAsFiles: [x]}\n- {objectName: d/x/y, secretPath: c}",
			want: []string{`object "d/x/y": objectName "d/x/y" needs "d/x" to be a directory, but object "d" writes a file there`}},
		{name: "keysAsFiles directory inside another's", yaml: "- {objectName: d, secretPath: b, keysAsFiles: true}\n- {objectName: d/e, secretPath: c, keysAsFiles: true}",
			want: []string{`object "d/e": its directory "d/e" is inside "d"`}},
		{name: "template with read fields", yaml: "- {objectName: a, template: x, secretPath: b, secretKey: c}",
			want: []string{`object "a": a template object renders the class's other objects and takes no secretPath, secretKey`}},
		{name: "template not text", yaml: "- {objectName: a, template: [x]}", want: []string{`object "a": template must be text`}},
		{name: "template empty", yaml: "- {objectName: a, template: '  '}", want: []string{`object "a": template is empty`}},
		{name: "templateOnly not a bool", yaml: "- {objectName: a, secretPath: b, templateOnly: 2}", want: []string{`object "a": templateOnly must be true or false, not 2`}},
		{name: "optional a map", yaml: "- {objectName: a, secretPath: b, optional: {x: 1}}", want: []string{`object "a": optional must be true or false, not a map`}},
		{
			name: "every problem of every object at once",
			yaml: "- objectName: a\n  secretPath: x/../y\n  method: PATCH\n  encoding: rot13\n  filePermission: '8'\n  Method: GET\n- secretPath: ''\n- {objectName: a, secretPath: z}",
			want: []string{
				`object "a": unknown field "Method": did you mean "method"?`,
				`object "a": secretPath "x/../y" has a ".." element`,
				`object "a": method "PATCH"`,
				`object "a": encoding "rot13"`,
				`object "a": filePermission "8"`,
				"object #2 (line 7): objectName is required",
				"object #2 (line 7): secretPath is required",
				`objectName "a" is used by objects #1 and #3`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := validAttrs()
			attrs["objects"] = tc.yaml
			p, err := ParseParams(nil, attrs, testDefaults())
			if p != nil {
				t.Errorf("ParseParams returned params with an error")
			}
			assertProblems(t, err, tc.want)
		})
	}
}
