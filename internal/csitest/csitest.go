// Package csitest holds what the tools and tests that play the Secrets
// Store CSI driver share: the driver's Mount request for a pod, the
// provider run as a child and reached with the driver's client, and polling
// until a condition holds. (A free port is vaulttest.FreePort, which
// vaulttest itself needs and this package cannot give it: spc imports
// vault, whose tests use vaulttest.)
package csitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// Pod is what the driver tells the provider about the pod being mounted
// (the CSIDriver's podInfoOnMount).
type Pod struct {
	Name, Namespace, UID, ServiceAccount string
}

// Token is one service-account token the driver passes, for one audience
// (the CSIDriver's tokenRequests).
type Token struct {
	Token      string
	Expiration time.Time
}

// MarshalJSON writes the kubelet's form: the expiry in RFC 3339, UTC, whole
// seconds.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Token      string `json:"token"`
		Expiration string `json:"expirationTimestamp"`
	}{t.Token, t.Expiration.UTC().Format(time.RFC3339)})
}

// Request is one Mount as the driver sends it.
type Request struct {
	Pod Pod
	// Params are the SecretProviderClass parameters and any other volume
	// context (secretProviderClass, csi.storage.k8s.io/ephemeral).
	Params map[string]string
	// Tokens are the service-account tokens by audience; none when empty.
	Tokens map[string]Token
	// TargetPath defaults to the kubelet's path for the pod's volume.
	TargetPath string
}

// Build returns the MountRequest: the parameters with the pod's keys over
// them (the driver's volume context wins a clash), no node-publish secret
// and mode 0644.
func (r Request) Build() (*pb.MountRequest, error) {
	if r.Pod.Name == "" || r.Pod.Namespace == "" || r.Pod.UID == "" || r.Pod.ServiceAccount == "" {
		return nil, errors.New("csitest: the pod needs a name, namespace, uid and service account")
	}
	js, err := attributes(r.Params, r.Pod, r.Tokens)
	if err != nil {
		return nil, err
	}
	target := r.TargetPath
	if target == "" {
		target = "/var/lib/kubelet/pods/" + r.Pod.UID + "/volumes/kubernetes.io~csi/secrets/mount"
	}
	return &pb.MountRequest{Attributes: string(js), Secrets: "null", Permission: "420", TargetPath: target}, nil
}

// attributes are params with the pod's keys and the tokens over them, as
// JSON: what the driver and the sync controller both send.
func attributes(params map[string]string, pod Pod, tokens map[string]Token) ([]byte, error) {
	attrs := maps.Clone(params)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[spc.KeyPodName] = pod.Name
	attrs[spc.KeyPodNamespace] = pod.Namespace
	attrs[spc.KeyPodUID] = pod.UID
	attrs[spc.KeyServiceAccount] = pod.ServiceAccount
	if len(tokens) > 0 {
		js, err := json.Marshal(tokens)
		if err != nil {
			return nil, fmt.Errorf("csitest: tokens: %w", err)
		}
		attrs[spc.KeyDriverTokens] = string(js)
	}
	js, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("csitest: attributes: %w", err)
	}
	return js, nil
}

// WaitFor calls cond at once and then every interval until it reports
// done, returns an error, or ctx ends (ctx's error, wrapped).
func WaitFor(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}
