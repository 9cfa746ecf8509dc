package mount

import (
	"fmt"
	"slices"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nested"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// keyFileBytes is one key of keysAsFiles besides its path and contents:
// its place in the list of keys, its file, its value for templates, and
// the checks of its name.
const keyFileBytes = account.SliceElemBytes + account.MapEntryBytes + 256

// keysAsFiles writes each key of the secret (or each listed key) as a
// file under the object's directory.
func keysAsFiles(acct *account.Account, out *spc.Output, s *api.Secret) (outcome, error) {
	v, err := selectValue(acct, out, s.Data)
	if err != nil {
		return outcome{}, err
	}
	data, ok := v.(map[string]any)
	if !ok {
		return outcome{}, fmt.Errorf("%w: keysAsFiles needs a map (a JSON object), but the value selected at %s is of type %s", ErrDecode, out.Path, nested.TypeName(v))
	}
	// The list of keys, the files and the values templates see, before any
	// is built: a secret may have millions of keys.
	if err := acct.Charge(len(data)*keyFileBytes, out.Label+": keysAsFiles"); err != nil {
		return outcome{}, err
	}
	keys := out.Keys
	if keys == nil {
		keys = make([]string, 0, len(data))
		for k := range data {
			if err := spc.CheckKeyFileName(k); err != nil {
				return outcome{}, fmt.Errorf("%w: keysAsFiles at %s: %v: write this key with secretKey and an objectName of its own, or list the other keys in keysAsFiles",
					ErrFileConflict, out.Path, err)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	o := outcome{files: make([]rendered, 0, len(keys)), present: true}
	values := make(map[string]any, len(keys))
	for _, k := range keys {
		v, ok := data[k]
		if !ok {
			if out.Optional {
				continue
			}
			return outcome{}, fmt.Errorf("%w: key %s is not in the secret at %s (keys there: %s)", ErrKeyNotFound, spc.Quote(k), out.Path, nested.Keys(data))
		}
		values[k] = v
		if out.TemplateOnly && !decoded(out) {
			continue
		}
		path := out.Name + "/" + k
		if len(path) > spc.MaxPathBytes {
			return outcome{}, fmt.Errorf("%w: keysAsFiles at %s: the file of key %s would have a path of %d bytes, over the driver's %d: shorten objectName or write this key with secretKey",
				ErrFileConflict, out.Path, spc.Quote(k), len(path), spc.MaxPathBytes)
		}
		if err := acct.Charge(len(path), out.Label+": keysAsFiles"); err != nil {
			return outcome{}, err
		}
		b, err := fileBytes(acct, out, v, "the value of key "+spc.Quote(k))
		if err != nil {
			return outcome{}, err
		}
		o.keep(out, rendered{path, b})
		values[k] = templateValue(out, v, b)
	}
	o.value = values
	return o, nil
}
