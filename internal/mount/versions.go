package mount

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// version is an object's version: an HMAC, under the node's secret key, of
// the object's identity and content. It changes exactly when the content
// changes; without the key nobody who can read the
// SecretProviderClassPodStatus can test guesses of a secret against it, and
// the identity keeps two objects with equal content from showing equal
// versions.
func version(key []byte, identity []byte, content []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(identity)
	m.Write(content)
	return hex.EncodeToString(m.Sum(nil))
}

// identity names what an object is, for its version: where it is read
// (the pod's namespace, the Vault address and Vault namespace), the file
// and the request (by its key). The namespace and the Vault make equal
// content read by another tenant, even from its own Vault, get another
// version, so one tenant's versions tell nothing about another's secrets.
func identity(p *Params, obj Object, requestKey string) []byte {
	return lengthPrefixed(p.Pod.Namespace, p.Vault.Address, p.Vault.Namespace,
		obj.Name, obj.Key, string(obj.Encoding), requestKey)
}

// lengthPrefixed encodes fields so that no two different lists give the
// same bytes, whatever the fields contain.
func lengthPrefixed(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}
