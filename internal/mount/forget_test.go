package mount_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
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

// revokeProxy is another address of the harness's Vault that reports the
// revoke-self calls made through it; a hung one never answers them.
type revokeProxy struct {
	*httptest.Server
	started chan struct{} // a revoke-self call arrived
	ended   chan struct{} // a revoke-self call was answered, or given up by the provider
}

func newRevokeProxy(t *testing.T, h *harness, hang bool) *revokeProxy {
	t.Helper()
	target, err := url.Parse(h.vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	vault := httputil.NewSingleHostReverseProxy(target)
	p := &revokeProxy{started: make(chan struct{}, 100), ended: make(chan struct{}, 100)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/auth/token/revoke-self" {
			vault.ServeHTTP(w, r)
			return
		}
		p.started <- struct{}{}
		defer func() { p.ended <- struct{}{} }()
		if hang {
			<-r.Context().Done()
			return
		}
		vault.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// TestHungRevocationDoesNotDelayOtherPods: a deleted pod's Vault hangs on
// revoke; another pod deleted after it, whose Vault is another address, has
// its token revoked while the first revocation still hangs.
func TestHungRevocationDoesNotDelayOtherPods(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}})
	// Created before the pod watch, so closed after it has given up the
	// hung call.
	hung, answering := newRevokeProxy(t, h, true), newRevokeProxy(t, h, false)
	pods := map[string]string{"web-hung": "uid-hung", "web-ok": "uid-ok"}
	through := map[string]*revokeProxy{"web-hung": hung, "web-ok": answering}
	for name, uid := range pods {
		if _, err := h.mount(t, map[string]string{
			spc.KeyPodName: name, spc.KeyPodUID: uid, spc.KeyVaultAddress: through[name].URL,
			"objects": "- {objectName: k, secretPath: secret/data/app, secretKey: k}",
		}); err != nil {
			t.Fatalf("mount %s: %v", name, err)
		}
	}
	before := h.tokenCount(t)
	kc := watchPods(t, h, pods)

	deletePod := func(name string) {
		t.Helper()
		if err := kc.CoreV1().Pods(podNamespace).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deletePod("web-hung")
	select {
	case <-hung.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the hung pod's token was never revoked")
	}
	deletePod("web-ok")
	select {
	case <-answering.ended:
	case <-hung.ended:
		t.Fatal("the hung revocation ended before the other pod's was answered: revocations wait for each other")
	case <-time.After(time.Minute):
		t.Fatal("the other pod's token was never revoked")
	}
	if after := h.tokenCount(t); after != before-1 {
		t.Errorf("Vault holds %d tokens, want %d: the answering pod's token lives on", after, before-1)
	}
	select {
	case <-hung.ended:
		t.Error("the hung revocation ended: the test proves nothing")
	default:
	}
}
