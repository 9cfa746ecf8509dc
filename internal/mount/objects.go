package mount

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Encoding says how a secret value is stored in Vault; the file gets the
// decoded bytes.
type Encoding string

// The encodings an object may name.
const (
	EncodingUTF8   Encoding = "utf-8"
	EncodingBase64 Encoding = "base64"
	EncodingHex    Encoding = "hex"
)

// Object is one entry of the objects parameter: a file and where its
// content comes from.
type Object struct {
	Name     string         // objectName: the file path in the volume
	Path     string         // secretPath without leading "/", "/v1/" or "v1/" prefix and without the query
	Query    url.Values     // from "?..." in secretPath, nil if none
	Key      string         // secretKey, "" = whole response data as JSON
	Method   string         // upper case: GET (default), PUT or POST
	Args     map[string]any // secretArgs (JSON body), nil if absent
	Encoding Encoding       // default utf-8
	Mode     *int32         // filePermission (0..0777), nil = use the driver's default
}

// objectFields are the fields an object may have.
var objectFields = []string{"objectName", "secretPath", "secretKey", "method", "secretArgs", "encoding", "filePermission"}

const noObjects = "no objects: list the secrets to mount in the objects parameter, e.g. \"- objectName: password\\n  secretPath: secret/data/app\\n  secretKey: password\""

// parseObjects parses the objects parameter. It reads the YAML as nodes
// rather than into structs so that every problem can name its object. The
// expanded size of the document and the number of objects are checked before
// any object is read.
func parseObjects(src string, lim Limits, probs *problems) []Object {
	if strings.TrimSpace(src) == "" {
		probs.add(noObjects)
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		probs.add("objects is not valid YAML: %v", err)
		return nil
	}
	if len(doc.Content) == 0 {
		probs.add(noObjects)
		return nil
	}
	if _, ok := countNodes(&doc, lim.YAMLNodes); !ok {
		probs.add("objects has more than %d YAML nodes once its aliases (*name) and merge keys (<<) are expanded, the limit (%s): "+
			"write the objects out, or ask the operator to raise %s", lim.YAMLNodes, FlagMaxYAMLNodes, FlagMaxYAMLNodes)
		return nil
	}
	list := resolve(doc.Content[0])
	if list.Kind != yaml.SequenceNode {
		probs.add("objects must be a YAML list (items start with \"- \"), not a %s", kindName(list))
		return nil
	}
	if len(list.Content) == 0 {
		probs.add(noObjects)
		return nil
	}
	if len(list.Content) > lim.Objects {
		probs.add("objects lists %d objects, above the limit of %d (%s): split them over several SecretProviderClasses, or ask the operator to raise %s",
			len(list.Content), lim.Objects, FlagMaxObjects, FlagMaxObjects)
		return nil
	}
	objs := make([]Object, 0, len(list.Content))
	labels := make([]string, 0, len(list.Content))
	for i, item := range list.Content {
		o, label := parseObject(i, resolve(item), lim, probs)
		objs = append(objs, o)
		labels = append(labels, label)
	}
	checkNames(objs, labels, probs)
	return objs
}

// parseObject reads and checks one list item. label is how problems name
// the object: by objectName, or by position when it has none.
func parseObject(i int, n *yaml.Node, lim Limits, probs *problems) (o Object, label string) {
	label = fmt.Sprintf("object #%d (line %d)", i+1, n.Line)
	if n.Kind != yaml.MappingNode {
		probs.add("%s must be a map of fields (%s), not a %s", label, strings.Join(objectFields, ", "), kindName(n))
		return Object{}, label
	}
	pairs, mergeErr := fieldPairs(n, 0, new(int))
	if name := nameOf(pairs); name != "" {
		label = "object " + quote(name)
	}
	if mergeErr != "" {
		probs.add("%s: %s", label, mergeErr)
	}
	var path, method, enc string
	seen := map[string]bool{}
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if k.Kind != yaml.ScalarNode {
			probs.add("%s: field names must be plain strings (%s)", label, strings.Join(objectFields, ", "))
			continue
		}
		if seen[k.Value] {
			probs.add("%s: field %s is given more than once: keep one", label, plain(k.Value))
			continue
		}
		seen[k.Value] = true
		str := func() string { return scalar(v, label, k.Value, probs) }
		// k.Value is a known field name in every case below but default.
		switch k.Value {
		case "objectName":
			o.Name = str()
		case "secretPath":
			path = str()
		case "secretKey":
			o.Key = str()
		case "method":
			method = str()
		case "encoding":
			enc = str()
		case "secretArgs":
			o.Args = parseArgs(v, label, lim.SecretArgsBytes, probs)
		case "filePermission":
			o.Mode = parseMode(v, label, probs)
		default:
			probs.add("%s: %s", label, unknownField(k.Value))
		}
	}
	if o.Name == "" {
		probs.add("%s: objectName is required: it is the file's path in the volume, e.g. password", label)
	} else if err := ValidateFilePath(o.Name); err != nil {
		probs.add("%s: objectName: %v", label, err)
		// Reported: checkNames need not compare it (it may be huge).
		o.Name = ""
	}
	if path == "" {
		probs.add("%s: secretPath is required: the Vault API path to read, e.g. secret/data/app", label)
	} else {
		var err error
		if o.Path, o.Query, err = parseSecretPath(path); err != nil {
			probs.add("%s: %v", label, err)
		}
	}
	switch o.Method = strings.ToUpper(method); o.Method {
	case "":
		o.Method = http.MethodGet
	case http.MethodGet, http.MethodPut, http.MethodPost:
	default:
		probs.add("%s: method %s is not supported: use GET, PUT or POST", label, quote(method))
	}
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8":
		o.Encoding = EncodingUTF8
	case "base64":
		o.Encoding = EncodingBase64
	case "hex":
		o.Encoding = EncodingHex
	default:
		probs.add("%s: encoding %s is not supported: use utf-8, base64 or hex", label, quote(enc))
	}
	// Only a single value can be decoded; without secretKey the file is the
	// JSON of the whole response.
	if o.Key == "" && (o.Encoding == EncodingBase64 || o.Encoding == EncodingHex) {
		probs.add("%s: encoding %s needs secretKey: name the key whose value is %s-encoded", label, o.Encoding, o.Encoding)
	}
	return o, label
}

// resolve follows YAML aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for range 100 {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			break
		}
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "map"
	case yaml.ScalarNode:
		return "single value (" + strings.TrimPrefix(n.ShortTag(), "!!") + ")"
	}
	return "YAML node of kind " + strconv.Itoa(int(n.Kind))
}

// maxMergedFields bounds the expansion of merge keys, which aliases can
// make exponential.
const maxMergedFields = 1000

// fieldPairs returns the key/value pairs of mapping n with YAML merge keys
// ("<<: *base") expanded as yaml.v3 decodes them into a struct, which is how
// hashicorp/vault-csi-provider reads objects: explicit keys win over merged
// ones, and earlier maps of a merged list win over later ones.
func fieldPairs(n *yaml.Node, depth int, budget *int) (pairs [][2]*yaml.Node, problem string) {
	var merged [][2]*yaml.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := resolve(n.Content[j]), resolve(n.Content[j+1])
		if *budget++; *budget > maxMergedFields || depth > 10 {
			return pairs, "too many fields after expanding merge keys (<<)"
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			pairs = append(pairs, [2]*yaml.Node{k, v})
			continue
		}
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, src := range srcs {
			if src = resolve(src); src.Kind != yaml.MappingNode {
				return pairs, "a merge key (<<) needs a map or a list of maps"
			}
			more, problem := fieldPairs(src, depth+1, budget)
			if problem != "" {
				return pairs, problem
			}
			merged = append(merged, more...)
		}
	}
	have := map[string]bool{}
	for _, kv := range pairs {
		have[kv[0].Value] = true
	}
	for _, kv := range merged {
		if !have[kv[0].Value] {
			have[kv[0].Value] = true
			pairs = append(pairs, kv)
		}
	}
	return pairs, ""
}

// nameOf returns the objectName among pairs, for labelling problems.
func nameOf(pairs [][2]*yaml.Node) string {
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if k.Kind == yaml.ScalarNode && k.Value == "objectName" && v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
			return v.Value
		}
	}
	return ""
}

// scalar reads a string field. Like yaml.v3 decoding into a string, any
// scalar is taken as written (secretKey: 123 is "123"); null is unset.
func scalar(v *yaml.Node, label, field string, probs *problems) string {
	if v.Kind != yaml.ScalarNode {
		probs.add("%s: %s must be a single value, not a %s", label, field, kindName(v))
		return ""
	}
	if v.ShortTag() == "!!null" {
		return ""
	}
	if c := controlChar(v.Value, nil); c != "" {
		probs.add("%s: %s contains %s: remove it", label, field, c)
		return ""
	}
	return v.Value
}

func unknownField(f string) string {
	valid := strings.Join(objectFields, ", ")
	for _, want := range objectFields {
		if strings.EqualFold(f, want) {
			return fmt.Sprintf("unknown field %s: did you mean %q? (field names are case-sensitive; valid fields: %s)", quote(f), want, valid)
		}
	}
	return fmt.Sprintf("unknown field %s: valid fields are %s", quote(f), valid)
}

// parseArgs reads secretArgs, the JSON body of a PUT or POST. Whatever JSON
// cannot encode (a non-string key in a nested map, .inf) is rejected here
// rather than at fetch time, and so are args above limit bytes as JSON.
func parseArgs(v *yaml.Node, label string, limit int, probs *problems) map[string]any {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		probs.add("%s: secretArgs must be a map of request body fields, not a %s", label, kindName(v))
		return nil
	}
	var args map[string]any
	if err := v.Decode(&args); err != nil {
		probs.add("%s: secretArgs cannot be read: %v", label, err)
		return nil
	}
	tooLarge := func(size string) {
		probs.add("%s: secretArgs is %s bytes as JSON, above the limit of %d bytes (%s): shorten it, or ask the operator to raise %s",
			label, size, limit, FlagMaxSecretArgsBytes, FlagMaxSecretArgsBytes)
	}
	// Aliases make the decoded args share their strings, so their JSON can
	// be far larger than the document: measure before encoding.
	w := argsWalk{budget: limit}
	if _, ok := w.jsonable(args); !ok {
		switch {
		case w.problem != "":
			probs.add("%s: secretArgs%s %s", label, w.path(), w.problem)
		default:
			tooLarge("more than " + strconv.Itoa(limit))
		}
		return nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		probs.add("%s: secretArgs cannot be sent as JSON: %v", label, err)
		return nil
	}
	if len(b) > limit {
		tooLarge(strconv.Itoa(len(b)))
		return nil
	}
	return args
}

// argsWalk makes decoded secretArgs fit for JSON and checks them. budget is
// what remains of the size limit: each string and key is charged its length,
// a lower bound of its JSON encoding. On failure, problem says why and at
// holds the path to the offending value, innermost first, built only then.
type argsWalk struct {
	budget  int
	problem string
	at      []string
}

// path renders the path to the offending value, e.g. ".a.b[2]".
func (w *argsWalk) path() string {
	var b strings.Builder
	for i := len(w.at) - 1; i >= 0; i-- {
		b.WriteString(w.at[i])
	}
	return b.String()
}

// elem renders a map key as a path element, quoted if it is not plain text.
func elem(k string) string {
	if len(k) <= maxQuotedBytes && controlChar(k, nil) == "" && !strings.ContainsAny(k, ".[]\"") {
		return "." + k
	}
	return "[" + quote(k) + "]"
}

// jsonable returns v with every nested map keyed by strings, as JSON needs.
// yaml.v3 decodes a map as map[any]any when a key is not a plain string;
// such a map is converted if its keys are all strings, else the first
// offending key (in sorted order) is reported. Keys may hold no control
// character, string values none but tabs and line breaks: Vault request data
// is text, and multi-line text (a PEM CSR) is common, but a NUL or an escape
// never is.
func (w *argsWalk) jsonable(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		if c := controlChar(t, textControl); c != "" {
			w.problem = "contains " + c + ": only tabs and line breaks are allowed in values"
			return nil, false
		}
		return t, w.charge(len(t))
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if c := controlChar(k, nil); c != "" {
				w.problem = "has a key with " + c
				return nil, false
			}
			if !w.charge(len(k)) {
				return nil, false
			}
			e, ok := w.jsonable(t[k])
			if !ok {
				w.at = append(w.at, elem(k))
				return nil, false
			}
			t[k] = e
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		var bad []string
		for k, e := range t {
			if ks, ok := k.(string); ok {
				m[ks] = e
			} else {
				bad = append(bad, fmt.Sprint(k))
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			key := plain(bad[0])
			w.problem = fmt.Sprintf("has key %s that is not a string: quote it (%q)", key, key)
			return nil, false
		}
		return w.jsonable(m)
	case []any:
		for i, e := range t {
			e, ok := w.jsonable(e)
			if !ok {
				w.at = append(w.at, "["+strconv.Itoa(i)+"]")
				return nil, false
			}
			t[i] = e
		}
	}
	return v, w.charge(1)
}

// charge spends n bytes of the budget, reporting whether any is left.
func (w *argsWalk) charge(n int) bool {
	w.budget -= n
	return w.budget >= 0
}
