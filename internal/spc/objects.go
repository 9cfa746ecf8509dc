package spc

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// Shape is the form of a whole-secret file.
type Shape string

// The shapes a whole-secret file may take.
const (
	// ShapeResponse is Vault's whole response, as
	// hashicorp/vault-csi-provider writes it.
	ShapeResponse Shape = "response"
	// ShapeData is the response's data alone.
	ShapeData Shape = "data"
)

// Object is one entry of the objects parameter, as written: what to read
// and how to make files of it.
type Object struct {
	Name     string         // objectName: the file path in the volume (the directory with keysAsFiles)
	Path     string         // secretPath without leading "/", "/v1/" or "v1/" prefix and without the query; "" for a template
	Query    url.Values     // from "?..." in secretPath, nil if none
	Key      string         // secretKey, "" = none
	JMESPath string         // jmesPath: a value nested in the secret (or in the value at secretKey), "" = none
	Method   string         // upper case: GET (default), PUT or POST; "" for a template
	Args     map[string]any // secretArgs (JSON body), nil if absent
	Encoding Encoding       // default utf-8
	Mode     *int32         // filePermission (0..0777), nil = use the driver's default
	// Shape is the whole-secret file's form (jsonShape); "" unless the
	// object writes the whole secret.
	Shape Shape
	// KeysAsFiles writes one file per key of the secret under Name; Keys
	// lists them, nil for every key.
	KeysAsFiles bool
	Keys        []string
	// Template renders the file from the class's other objects.
	Template string
	// TemplateOnly reads the object for templates and writes no file.
	TemplateOnly bool
	// Optional leaves the files out when the secret or a key is missing.
	Optional bool
}

// Kind says what an object makes of its secret.
type Kind int

// The kinds of object.
const (
	// KindWhole writes the whole secret as JSON (no secretKey).
	KindWhole Kind = iota
	// KindValue writes one value (secretKey, jmesPath).
	KindValue
	// KindKeys writes one file per key (keysAsFiles).
	KindKeys
	// KindTemplate renders a template over the other objects.
	KindTemplate
)

// String names the kind, as the offline check prints it.
func (k Kind) String() string {
	switch k {
	case KindWhole:
		return "whole"
	case KindValue:
		return "value"
	case KindKeys:
		return "keys"
	case KindTemplate:
		return "template"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Kind is the object's kind, from its fields.
func (o *Object) Kind() Kind {
	switch {
	case o.Template != "":
		return KindTemplate
	case o.KeysAsFiles:
		return KindKeys
	case o.Key != "" || o.JMESPath != "":
		return KindValue
	default:
		return KindWhole
	}
}

// objectFields are the fields an object may have.
var objectFields = []string{"objectName", "secretPath", "secretKey", "method", "secretArgs", "encoding", "filePermission",
	"jmesPath", "jsonShape", "keysAsFiles", "template", "templateOnly", "optional"}

// ObjectFields returns the fields an object may have; docs/parameters.md
// documents each.
func ObjectFields() []string { return slices.Clone(objectFields) }

const noObjects = "no objects: list the secrets to mount in the objects parameter, e.g. \"- objectName: password\\n  secretPath: secret/data/app\\n  secretKey: password\""

// parseObjects parses the objects parameter. It reads the YAML as nodes
// rather than into structs so that every problem can name its object. The
// expanded size of the document and the number of objects are checked before
// any object is read.
func parseObjects(src string, lim Limits, probs *problems) ([]Object, []string) {
	if strings.TrimSpace(src) == "" {
		probs.add(noObjects)
		return nil, nil
	}
	// yaml.v3 builds the whole tree before its nodes can be counted: charge
	// its bound first.
	if !probs.charge(yamlTreeBytes(src), len(src), "parsing objects") {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		probs.add("objects is not valid YAML: %v", err)
		return nil, nil
	}
	if len(doc.Content) == 0 {
		probs.add(noObjects)
		return nil, nil
	}
	n, ok := countNodes(&doc, lim.YAMLNodes)
	if !probs.charge(0, n, "counting the objects' YAML nodes") {
		return nil, nil
	}
	if !ok {
		probs.add("objects has more than %d YAML nodes once its aliases (*name) and merge keys (<<) are expanded, the limit (%s): "+
			"write the objects out, or ask the operator to raise %s", lim.YAMLNodes, FlagMaxYAMLNodes, FlagMaxYAMLNodes)
		return nil, nil
	}
	list := resolve(doc.Content[0])
	if list.Kind != yaml.SequenceNode {
		probs.add("objects must be a YAML list (items start with \"- \"), not a %s", kindName(list))
		return nil, nil
	}
	if len(list.Content) == 0 {
		probs.add(noObjects)
		return nil, nil
	}
	if len(list.Content) > lim.Objects {
		probs.add("objects lists %d objects, above the limit of %d (%s): split them over several SecretProviderClasses, or ask the operator to raise %s",
			len(list.Content), lim.Objects, FlagMaxObjects, FlagMaxObjects)
		return nil, nil
	}
	objs := make([]Object, 0, len(list.Content))
	labels := make([]string, 0, len(list.Content))
	for i, item := range list.Content {
		if probs.stop != nil {
			return nil, nil
		}
		o, label := parseObject(i, resolve(item), lim, probs)
		objs = append(objs, o)
		labels = append(labels, label)
	}
	checkNames(objs, labels, probs)
	return objs, labels
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
		label = "object " + Quote(name)
	}
	if mergeErr != "" {
		probs.add("%s: %s", label, mergeErr)
	}
	var path, method, enc, shape string
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
		flag := func() bool { return boolean(v, label, k.Value, probs) }
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
		case "jmesPath":
			o.JMESPath = str()
		case "jsonShape":
			shape = str()
		case "keysAsFiles":
			o.KeysAsFiles, o.Keys = parseKeysAsFiles(v, label, probs)
		case "template":
			o.Template = templateText(v, label, lim, probs)
		case "templateOnly":
			o.TemplateOnly = flag()
		case "optional":
			o.Optional = flag()
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
	if seen["template"] {
		checkTemplateFields(&o, seen, label, probs)
		return o, label
	}
	if path == "" {
		probs.add("%s: secretPath is required: the Vault API path to read, e.g. secret/data/app (or give a template)", label)
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
		probs.add("%s: method %s is not supported: use GET, PUT or POST", label, Quote(method))
	}
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8":
		o.Encoding = EncodingUTF8
	case "base64":
		o.Encoding = EncodingBase64
	case "hex":
		o.Encoding = EncodingHex
	default:
		probs.add("%s: encoding %s is not supported: use utf-8, base64 or hex", label, Quote(enc))
	}
	kind := o.Kind()
	// Only single values can be decoded; the whole secret is JSON.
	if kind == KindWhole && (o.Encoding == EncodingBase64 || o.Encoding == EncodingHex) {
		probs.add("%s: encoding %s needs secretKey: name the key whose value is %s-encoded", label, o.Encoding, o.Encoding)
	}
	switch strings.ToLower(shape) {
	case "":
		if kind == KindWhole {
			o.Shape = ShapeResponse
		}
	case string(ShapeResponse), string(ShapeData):
		if kind != KindWhole {
			probs.add("%s: jsonShape is for an object that writes the whole secret: remove it, or remove secretKey, jmesPath and keysAsFiles", label)
			break
		}
		o.Shape = Shape(strings.ToLower(shape))
	default:
		probs.add("%s: jsonShape %s is not supported: use response (Vault's whole response, the default) or data (its data alone)", label, Quote(shape))
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
