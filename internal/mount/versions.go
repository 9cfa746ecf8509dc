package mount

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// version is an object's version: an HMAC, under the node's secret key, of
// the object's identity and content. It changes exactly when the content
// changes; without the key nobody who can read the
// SecretProviderClassPodStatus can test guesses of a secret against it, and
// the identity keeps two objects with equal content from showing equal
// versions.
func version(key []byte, identity string, content []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(identity))
	m.Write([]byte{0})
	m.Write(content)
	return hex.EncodeToString(m.Sum(nil))
}
