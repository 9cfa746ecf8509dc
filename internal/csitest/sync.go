package csitest

import (
	"errors"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// SyncTargetPath is the target path the Secrets Store sync controller
// sends in every Mount: it writes no files, so no such directory exists.
const SyncTargetPath = "/mnt/secrets-store"

// SyncRequest is one Mount as the Secrets Store sync controller (v0.0.4)
// sends it for a SecretSync: no pod of the SecretSync's own, no volume.
type SyncRequest struct {
	// ControllerPod is the controller's own pod (its downward API): the
	// same name and UID for every SecretSync of every namespace.
	ControllerPodName, ControllerPodUID string
	// Namespace and ServiceAccount are the SecretSync's: its namespace and
	// its spec.serviceAccountName.
	Namespace, ServiceAccount string
	// Params are the SecretProviderClass's parameters.
	Params map[string]string
	// Tokens are the service-account tokens by audience: only the audience
	// the controller was started with, none when it has none.
	Tokens map[string]Token
}

// Build returns the MountRequest: the class's parameters with the pod
// keys over them, no secretProviderClass nor ephemeral attribute, secrets
// "{}", mode 0644 and no current object versions.
func (r SyncRequest) Build() (*pb.MountRequest, error) {
	if r.ControllerPodName == "" || r.ControllerPodUID == "" || r.Namespace == "" || r.ServiceAccount == "" {
		return nil, errors.New("csitest: a sync request needs the controller's pod name and UID, a namespace and a service account")
	}
	// The controller's own pod, in the SecretSync's namespace, with its
	// service account.
	pod := Pod{Name: r.ControllerPodName, UID: r.ControllerPodUID, Namespace: r.Namespace, ServiceAccount: r.ServiceAccount}
	js, err := attributes(r.Params, pod, r.Tokens)
	if err != nil {
		return nil, err
	}
	return &pb.MountRequest{Attributes: string(js), Secrets: "{}", Permission: "420", TargetPath: SyncTargetPath}, nil
}
