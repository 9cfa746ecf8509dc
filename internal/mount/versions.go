package mount

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// version is a file's version: an HMAC, under the node's secret key, of
// the file's identity and content. It changes exactly when the content
// changes; without the key nobody who can read the
// SecretProviderClassPodStatus can test guesses of a secret against it, and
// the identity keeps two files with equal content from showing equal
// versions.
func version(key []byte, identity []byte, content []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(identity)
	m.Write(content)
	return hex.EncodeToString(m.Sum(nil))
}

// identity names what a file is, for its version: where it is read (the
// pod's namespace and service account, the Vault address and Vault
// namespace), the output that
// made it (its request and what it takes from it) and its path. The
// namespace and the Vault make equal content read by another tenant, even
// from its own Vault, get another version, so one tenant's versions tell
// nothing about another's secrets. The service account is there because
// the sync controller's Mounts share one pod: namespace and service account
// are what separates them.
func identity(p *spc.Params, out *spc.Output, path string) []byte {
	return spc.LengthPrefixed(p.Pod.Namespace, p.Pod.ServiceAccount, p.Vault.Address, p.Vault.Namespace, string(out.ID), path)
}
