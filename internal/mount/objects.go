package mount

import (
	"fmt"
	"net/http"
	"net/url"
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
