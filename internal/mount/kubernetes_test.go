package mount_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

// flakyKeys is an HMAC key source whose Secret cannot be read while down.
type flakyKeys struct {
	calls atomic.Int64
	down  atomic.Bool
}

func (f *flakyKeys) Key(context.Context) ([]byte, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errors.New("secrets \"vault-csi-provider-hmac-key\" is forbidden")
	}
	return []byte("0123456789abcdef0123456789abcdef"), nil
}

// TestMountSurvivesHMACKeyOutage: secrets are delivered with stable
// versions while the key Secret cannot be read, every mount tries the key
// again, the outage is logged once when it starts and once when it ends,
// and vault_csi_provider_hmac_key_available follows it.
func TestMountSurvivesHMACKeyOutage(t *testing.T) {
	keys := &flakyKeys{}
	keys.down.Store(true)
	h := newHarnessWith(t, keys, nil)
	keyAvailable := func(want float64) {
		t.Helper()
		if got := testutil.ToFloat64(h.metrics.HMACKeyAvailable); got != want {
			t.Errorf("hmac_key_available = %v, want %v", got, want)
		}
	}
	keyAvailable(1) // before any mount: assumed readable
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}})
	params := map[string]string{"objects": "- {objectName: k, secretPath: secret/data/app, secretKey: k}"}
	mountVersion := func() string {
		t.Helper()
		resp, err := h.mount(t, params)
		if err != nil {
			t.Fatalf("mount failed (HMAC key down: %t): %v", keys.down.Load(), err)
		}
		return resp.ObjectVersion[0].Version
	}
	versions := []string{mountVersion(), mountVersion(), mountVersion()}
	if versions[0] == "" || versions[0] != versions[1] || versions[1] != versions[2] {
		t.Errorf("versions %q while the key is unavailable, want equal and non-empty", versions)
	}
	if keys.calls.Load() != 3 {
		t.Errorf("key source asked %d times, want 3", keys.calls.Load())
	}
	if n := strings.Count(h.logs.String(), "HMAC key unavailable"); n != 1 {
		t.Errorf("%d warnings over three mounts of one outage, want 1", n)
	}
	keyAvailable(0)

	keys.down.Store(false)
	if v := mountVersion(); v == versions[0] {
		t.Error("the version did not change to the readable key's")
	}
	mountVersion()
	if n := strings.Count(h.logs.String(), "HMAC key readable again"); n != 1 {
		t.Errorf("%d recovery lines over two mounts, want 1", n)
	}
	keyAvailable(1)
}

// TestEqualContentGivesDifferentVersions: two objects holding the same value
// must not reveal that through equal versions.
func TestEqualContentGivesDifferentVersions(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/a", map[string]any{"data": map[string]any{"k": "same"}})
	write(t, h.vault, "secret/data/b", map[string]any{"data": map[string]any{"k": "same"}})
	resp, err := h.mount(t, map[string]string{"objects": "- {objectName: a, secretPath: secret/data/a, secretKey: k}\n- {objectName: b, secretPath: secret/data/b, secretKey: k}"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ObjectVersion[0].Version == resp.ObjectVersion[1].Version {
		t.Error("equal content gave equal versions")
	}
}

// TestWarmMountMakesNoKubernetesCall: the HMAC key is read once and the pod's
// token comes from the driver, so a republish never calls the API server.
func TestWarmMountMakesNoKubernetesCall(t *testing.T) {
	kc := fake.NewClientset()
	h := newHarnessWith(t, hmackey.New(kubetest.Clientset{Interface: kc}, "csi", "vault-csi-provider-hmac-key"), kc)
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}})
	params := map[string]string{"objects": "- {objectName: k, secretPath: secret/data/app, secretKey: k}"}
	if _, err := h.mount(t, params); err != nil {
		t.Fatal(err)
	}
	cold := len(kc.Actions())
	if cold == 0 {
		t.Fatal("the cold mount did not read or create the HMAC key Secret")
	}
	for range 5 {
		if _, err := h.mount(t, params); err != nil {
			t.Fatal(err)
		}
	}
	if warm := len(kc.Actions()) - cold; warm != 0 {
		t.Errorf("5 warm mounts made %d Kubernetes API calls: %v", warm, kc.Actions()[cold:])
	}
}

// TestTokenRequestFallback: without a driver token for the audience, the
// provider asks the TokenRequest API for one bound to the pod, and logs in
// to the real Vault with it; a republish reuses the Vault token.
func TestTokenRequestFallback(t *testing.T) {
	kc := fake.NewClientset()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, keys, kc)
	var requests []*authenticationv1.TokenRequest
	kc.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		requests = append(requests, tr)
		tr.Status.Token = h.saToken(t, podSA)
		return true, tr, nil
	})
	write(t, h.vault, "secret/data/app", map[string]any{"data": map[string]any{"k": "from-fallback"}})
	params := map[string]string{
		"objects": "- {objectName: k, secretPath: secret/data/app, secretKey: k}",
		"csi.storage.k8s.io/serviceAccount.tokens": "",
	}
	for range 2 {
		resp, err := h.mount(t, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Files[0].Contents); got != "from-fallback" {
			t.Fatalf("content %q", got)
		}
	}
	if len(requests) != 1 {
		t.Fatalf("%d TokenRequests for 2 mounts, want 1", len(requests))
	}
	spec := requests[0].Spec
	if len(spec.Audiences) != 1 || spec.Audiences[0] != "vault" || spec.BoundObjectRef == nil ||
		spec.BoundObjectRef.Name != podName || string(spec.BoundObjectRef.UID) != podUID {
		t.Errorf("TokenRequest spec = %+v", spec)
	}
}

// TestTokenRequestRefusedAudience: a class asking for an audience outside
// -allowed-audiences, with no driver token for it, is refused as bad class
// input before any TokenRequest.
func TestTokenRequestRefusedAudience(t *testing.T) {
	kc := fake.NewClientset()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, keys, kc)
	_, err = h.mount(t, map[string]string{
		"objects":  "- {objectName: k, secretPath: secret/data/app, secretKey: k}",
		"audience": "https://kubernetes.default.svc",
	})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "-allowed-audiences") {
		t.Fatalf("mount = %s %q, want InvalidArgument naming -allowed-audiences", st.Code(), st.Message())
	}
	for _, a := range kc.Actions() {
		if a.GetSubresource() == "token" {
			t.Errorf("a TokenRequest was made: %v", a)
		}
	}
}
