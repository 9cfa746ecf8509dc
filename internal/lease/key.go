package lease

import "github.com/vault-csi-provider/vault-csi-provider/internal/vault"

// Identity is who reads a response and what for: the namespace and service
// account it is read for, the identity it logs in as (role, auth mount,
// audience), the Vault it comes from and the request. The login identity is
// part of it because Vault decides per role: a secret read as one role must
// not be handed to a volume logging in as another, which Vault may refuse.
// Namespace and service account are part of it because a pod UID alone does
// not separate tenants: the Secrets Store sync controller sends its own
// pod's UID for the SecretSyncs of every namespace. internal/stale keys its
// last good responses by it.
type Identity struct {
	Namespace      string
	ServiceAccount string
	Role           string
	AuthMount      string
	Audience       string
	Vault          vault.Config
	Request        string
}

// Strings are the identity's strings, for memory estimates.
func (id Identity) Strings() [13]string {
	return [13]string{id.Namespace, id.ServiceAccount, id.Role, id.AuthMount, id.Audience, id.Request, id.Vault.Address,
		id.Vault.Namespace, id.Vault.CACert, id.Vault.CADirectory, id.Vault.TLSServerName, id.Vault.ClientCert, id.Vault.ClientKey}
}

// Key identifies a leased secret: the pod it was issued for and the
// identity that read it.
type Key struct {
	PodUID string
	Identity
}

// podKey names the entries one pod's bound applies to.
type podKey struct{ uid, namespace, serviceAccount string }

func (k Key) pod() podKey { return podKey{k.PodUID, k.Namespace, k.ServiceAccount} }
