package spc

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The readers of an object's field values, each adding a problem naming
// the object and the field when a value is wrong.

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

// checkTemplateFields refuses the fields that say where to read a secret on
// a template object, which reads the class's other objects instead.
func checkTemplateFields(o *Object, seen map[string]bool, label string, probs *problems) {
	var extra []string
	for _, f := range []string{"secretPath", "secretKey", "method", "secretArgs", "encoding", "jmesPath", "jsonShape", "keysAsFiles", "templateOnly"} {
		if seen[f] {
			extra = append(extra, f)
		}
	}
	if len(extra) > 0 {
		probs.add("%s: a template object renders the class's other objects and takes no %s: remove them, or move them to an object the template reads",
			label, strings.Join(extra, ", "))
	}
	o.Encoding = EncodingUTF8
}

// boolean reads a true/false field; like yaml.v3 decoding into a bool it
// takes YAML's booleans and the strings "true" and "false".
func boolean(v *yaml.Node, label, field string, probs *problems) bool {
	if v.Kind == yaml.ScalarNode {
		if b, err := strconv.ParseBool(v.Value); err == nil && (v.ShortTag() == "!!bool" || v.ShortTag() == "!!str") {
			return b
		}
		if v.ShortTag() == "!!null" {
			return false
		}
	}
	probs.add("%s: %s must be true or false, not %s", label, field, describe(v))
	return false
}

// describe names a node for a message: its kind, and a short scalar as
// written.
func describe(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode {
		return plain(v.Value)
	}
	return "a " + kindName(v)
}

// parseKeysAsFiles reads keysAsFiles: true for every key of the secret, or
// a list of the keys to write.
func parseKeysAsFiles(v *yaml.Node, label string, probs *problems) (bool, []string) {
	if v.Kind != yaml.SequenceNode {
		return boolean(v, label, "keysAsFiles", probs), nil
	}
	if len(v.Content) == 0 {
		probs.add("%s: keysAsFiles lists no keys: list the keys to write, or write true for every key", label)
		return false, nil
	}
	keys := make([]string, 0, len(v.Content))
	seen := map[string]bool{}
	for _, n := range v.Content {
		n = resolve(n)
		k := scalar(n, label, "keysAsFiles", probs)
		if k == "" {
			if n.Kind == yaml.ScalarNode {
				probs.add("%s: keysAsFiles has an empty key: remove it", label)
			}
			continue
		}
		if err := CheckKeyFileName(k); err != nil {
			probs.add("%s: keysAsFiles: %v", label, err)
			continue
		}
		if seen[k] {
			probs.add("%s: keysAsFiles lists key %s twice: keep one", label, Quote(k))
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return true, keys
}

// templateText reads a template's source, which may span lines.
func templateText(v *yaml.Node, label string, lim Limits, probs *problems) string {
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		probs.add("%s: template must be text (write it as a YAML block, template: |), not %s", label, describe(v))
		return ""
	}
	if len(v.Value) > lim.TemplateBytes {
		probs.add("%s: template is %d bytes, above the limit of %d bytes (%s): shorten it, or ask the operator to raise %s",
			label, len(v.Value), lim.TemplateBytes, FlagMaxTemplateBytes, FlagMaxTemplateBytes)
		return ""
	}
	if c := controlChar(v.Value, textControl); c != "" {
		probs.add("%s: template contains %s: remove it", label, c)
		return ""
	}
	if strings.TrimSpace(v.Value) == "" {
		probs.add("%s: template is empty: write the file's text, e.g. password={{ index . \"db\" }}", label)
		return ""
	}
	return v.Value
}

func unknownField(f string) string {
	valid := strings.Join(objectFields, ", ")
	for _, want := range objectFields {
		if strings.EqualFold(f, want) {
			return fmt.Sprintf("unknown field %s: did you mean %q? (field names are case-sensitive; valid fields: %s)", Quote(f), want, valid)
		}
	}
	return fmt.Sprintf("unknown field %s: valid fields are %s", Quote(f), valid)
}
