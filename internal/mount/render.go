package mount

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

var (
	// ErrKeyNotFound: the secret has no such secretKey.
	ErrKeyNotFound = errors.New("secret key not found")
	// ErrDecode: the value is not valid for the object's encoding.
	ErrDecode = errors.New("cannot decode secret value")
)

// render turns an object's secret into the file's bytes: the value at
// secretKey (KV v2's data.data is looked into) decoded per the object's
// encoding, or without secretKey the JSON of the response's data.
func render(obj Object, s *api.Secret) ([]byte, error) {
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("%w: no data at %s", vault.ErrBadResponse, obj.Path)
	}
	if obj.Key == "" {
		b, err := json.Marshal(s.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: data at %s cannot be encoded as JSON", vault.ErrBadResponse, obj.Path)
		}
		return b, nil
	}
	raw, err := valueAt(s.Data, obj)
	if err != nil {
		return nil, err
	}
	return decode(obj, raw)
}

func valueAt(root map[string]any, obj Object) ([]byte, error) {
	data := root
	if inner, ok := root["data"].(map[string]any); ok {
		data = inner
	}
	v, ok := data[obj.Key]
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not in the secret at %s (keys there: %s)",
			ErrKeyNotFound, obj.Key, obj.Path, keyList(data))
	}
	// Strings are written as they are; anything else as JSON, which is
	// what a consumer of a structured value expects.
	if str, ok := v.(string); ok {
		return []byte(str), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q at %s cannot be encoded as JSON", vault.ErrBadResponse, obj.Key, obj.Path)
	}
	return b, nil
}

// keyList names the keys (never the values) to help fix a wrong secretKey.
func keyList(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// decode applies the object's encoding: the value in Vault is base64 or hex
// text and the file receives the decoded bytes. Errors never quote the value.
func decode(obj Object, raw []byte) ([]byte, error) {
	switch obj.Encoding {
	case EncodingBase64:
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w: the value at %s is not valid base64 (encoding: base64)", ErrDecode, obj.Path)
		}
		return b, nil
	case EncodingHex:
		b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("%w: the value at %s is not valid hex (encoding: hex)", ErrDecode, obj.Path)
		}
		return b, nil
	default:
		return raw, nil
	}
}
