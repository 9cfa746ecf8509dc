package mount_test

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
)

// TestPodDeletedDuringLoginIsRevokedAtOnce: the pod is deleted while its
// mount waits for its service-account token; the Vault token and the
// lease the mount then obtains are revoked when the mount ends, not left
// for the pod watch's next sweep.
func TestPodDeletedDuringLoginIsRevokedAtOnce(t *testing.T) {
	kc := fake.NewClientset()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, keys, kc)
	leasedPKI(t, h)
	requested, release := make(chan struct{}), make(chan struct{})
	kc.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		close(requested)
		<-release
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = h.saToken(t, podSA)
		return true, tr, nil
	})
	before := h.tokenCount(t)

	mounted := make(chan error, 1)
	go func() {
		_, err := h.mount(t, map[string]string{"objects": leasedObjects, "csi.storage.k8s.io/serviceAccount.tokens": ""})
		mounted <- err
	}()
	<-requested
	// What the pod watch does on the delete event; nothing is cached yet.
	h.svc.PodGone(podUID)
	h.svc.ForgetPod(context.Background(), podUID)
	close(release)
	if err := <-mounted; err != nil {
		t.Fatalf("mount: %v", err)
	}

	// The token is revoked before the mount returns; Vault revokes the
	// leases it created in the background.
	if after := h.tokenCount(t); after != before {
		t.Errorf("Vault holds %d tokens after the mount, %d before: the deleted pod's token lives on", after, before)
	}
	waitUntil(t, "the deleted pod's lease to be revoked", func() bool { return h.liveLeases(t, "pki/issue/web/") == 0 })
	if uids := h.svc.PodUIDs(); len(uids) != 0 {
		t.Errorf("cache still holds pods %v", uids)
	}
}
