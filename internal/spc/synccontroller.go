package spc

import "regexp"

// Attributes the CSI driver sends and the Secrets Store sync controller
// does not.
const (
	KeySecretProviderClass = "secretProviderClass"
	KeyEphemeral           = "csi.storage.k8s.io/ephemeral"
)

// FromSyncController reports whether attrs come from the Secrets Store
// sync controller rather than the CSI driver: the controller names a pod
// (its own) but sends neither the class's name nor the ephemeral flag,
// which the driver always adds to a volume's attributes.
func FromSyncController(attrs map[string]string) bool {
	_, class := attrs[KeySecretProviderClass]
	_, ephemeral := attrs[KeyEphemeral]
	return !class && !ephemeral && attrs[KeyPodUID] != ""
}

// syncablePath is what a SecretSync's sourcePath can name: the pattern of
// the SecretSync CRD (v0.0.4) for secretObject.data[].sourcePath, a flat
// name of letters, digits and single inner "-", "." or "_", then numeric
// "/N" elements only.
var syncablePath = regexp.MustCompile(`^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(/[0-9]+)*$`)

// Syncable reports whether a SecretSync's sourcePath can name a file at
// path. Nested objectNames and keysAsFiles directories make paths it
// cannot.
func Syncable(path string) bool { return syncablePath.MatchString(path) }
