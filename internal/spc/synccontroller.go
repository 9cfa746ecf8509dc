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

// syncablePath is what a SecretSync's sourcePath can name: a flat name,
// with an optional numeric "/N" suffix.
var syncablePath = regexp.MustCompile(`^[^/]+(/[0-9]+)?$`)

// Syncable reports whether a SecretSync's sourcePath can name a file at
// path. Nested objectNames and keysAsFiles directories make paths it
// cannot.
func Syncable(path string) bool { return syncablePath.MatchString(path) }
