package mount_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/podwatch"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// leasedPKI makes pki/issue/web hand out leased certificates, like
// database credentials: each issue is a new lease in Vault.
func leasedPKI(t *testing.T, h *harness) {
	t.Helper()
	write(t, h.vault, "pki/roles/web", map[string]any{
		"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h", "generate_lease": true, "key_type": "ec",
	})
}

const leasedObjects = `
- objectName: tls.crt
  secretPath: pki/issue/web
  method: PUT
  secretArgs: {common_name: a.example.test, ttl: 30m}
  secretKey: certificate
- objectName: tls.key
  secretPath: pki/issue/web
  method: PUT
  secretArgs: {common_name: a.example.test, ttl: 30m}
  secretKey: private_key`

// liveLeases counts the leases Vault holds under prefix.
func (h *harness) liveLeases(t *testing.T, prefix string) int {
	t.Helper()
	s, err := h.vault.API().Logical().ListWithContext(context.Background(), "sys/leases/lookup/"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return 0
	}
	keys, _ := s.Data["keys"].([]any)
	return len(keys)
}

func (h *harness) certificate(t *testing.T, params map[string]string) string {
	t.Helper()
	resp, err := h.mount(t, params)
	if err != nil {
		t.Fatal(err)
	}
	return files(resp)["tls.crt"].Content
}

// TestLeasedSecretIsReusedOnRepublish: republishes return the same
// certificate while its lease is valid, and mint nothing new in Vault.
func TestLeasedSecretIsReusedOnRepublish(t *testing.T) {
	h := newHarness(t)
	leasedPKI(t, h)
	params := map[string]string{"objects": leasedObjects}
	first := h.certificate(t, params)
	for range 3 {
		if again := h.certificate(t, params); again != first {
			t.Fatal("a republish minted a new certificate while the lease was valid")
		}
	}
	if n := h.liveLeases(t, "pki/issue/web/"); n != 1 {
		t.Errorf("Vault holds %d leases, want 1", n)
	}
}

func TestLeaseReuseOffPerClass(t *testing.T) {
	h := newHarness(t)
	leasedPKI(t, h)
	params := map[string]string{"objects": leasedObjects, "leaseReuse": "false"}
	first, second := h.certificate(t, params), h.certificate(t, params)
	if first == second {
		t.Error("leaseReuse: \"false\" still reused the certificate")
	}
	if n := h.liveLeases(t, "pki/issue/web/"); n != 2 {
		t.Errorf("Vault holds %d leases, want 2", n)
	}
}

// TestDeletedPodLeasesAreRevoked runs the pod watch on a fake API server:
// deleting the pod revokes its Vault token and, with it, its leases.
func TestDeletedPodLeasesAreRevoked(t *testing.T) {
	h := newHarness(t)
	leasedPKI(t, h)
	params := map[string]string{"objects": leasedObjects}
	first := h.certificate(t, params)
	if n := h.liveLeases(t, "pki/issue/web/"); n != 1 {
		t.Fatalf("Vault holds %d leases before the delete, want 1", n)
	}

	kc := watchPods(t, h, map[string]string{podName: podUID})
	if err := kc.CoreV1().Pods(podNamespace).Delete(context.Background(), podName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the pod's lease to be revoked", func() bool { return h.liveLeases(t, "pki/issue/web/") == 0 })
	// The counts must be readable: a key naming a token would be redacted.
	waitUntil(t, "a readable log of what was forgotten", func() bool {
		return strings.Contains(h.logs.String(), "vault_logins=1 leases=1")
	})
	if len(h.svc.PodUIDs()) != 0 {
		t.Errorf("cache still holds pods %v", h.svc.PodUIDs())
	}
	if h.certificate(t, params) == first {
		t.Error("the revoked certificate was served again")
	}
}

// watchPods runs the pod watch for h's service on a fake API server that
// holds pods (name to uid) on one node, and returns once the watch is open,
// so that deleting one of the pods is seen as a delete event. The watch
// ends with the test.
func watchPods(t *testing.T, h *harness, pods map[string]string) *fake.Clientset {
	t.Helper()
	kc := fake.NewClientset()
	for name, uid := range pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: podNamespace, UID: types.UID(uid)},
			Spec:       corev1.PodSpec{NodeName: "node-a"},
		}
		if err := kc.Tracker().Add(pod); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- podwatch.Run(ctx, podwatch.Options{Pods: kubetest.Clientset{Interface: kc}.PodsOnNode("node-a"), NodeName: "node-a", Resync: time.Hour}, h.svc)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitUntil(t, "the pod watch to list pods", func() bool {
		for _, a := range kc.Actions() {
			if a.GetVerb() == "watch" {
				return true
			}
		}
		return false
	})
	return kc
}

// waitUntil polls a condition; the bound only guards against a hang.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaseNotSharedAcrossRoles: a pod whose one volume logs in as a role
// allowed to issue certificates and whose other volume logs in as a role
// Vault refuses them to must not get the first volume's kept certificate
// on the second: the kept lease belongs to the login that read it.
func TestLeaseNotSharedAcrossRoles(t *testing.T) {
	h := newHarness(t)
	leasedPKI(t, h)
	must(t, h.vault.WritePolicy(context.Background(), "low", `path "secret/data/*" { capabilities = ["read"] }`))
	must(t, h.vault.WriteJWTRole(context.Background(), "jwt", "low", podNamespace, podSA, time.Hour, "low"))

	h.certificate(t, map[string]string{"objects": leasedObjects, "roleName": "web"})
	_, err := h.mount(t, map[string]string{"objects": leasedObjects, "roleName": "low"})
	if code := status.Code(err); code != codes.PermissionDenied {
		t.Fatalf("mount as role low: code %s (%v), want PermissionDenied from Vault", code, err)
	}
}

// leasedCertificates lists n objects, each a leased certificate of its own
// request: "<prefix><i>.example.test".
func leasedCertificates(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- {objectName: %[1]s%[2]d.crt, secretPath: pki/issue/web, method: PUT, "+
			"secretArgs: {common_name: %[1]s%[2]d.example.test, ttl: 30m}, secretKey: certificate}\n", prefix, i)
	}
	return b.String()
}

// TestKeptBytesPerPod: a pod whose leased reads exceed its bound keeps at
// most that many bytes, its least recently used dropped, while another
// pod's entries survive. The dropped leases are left to end at Vault.
func TestKeptBytesPerPod(t *testing.T) {
	const perPod = 24 << 10 // about three leased certificates
	v := vaulttest.StartT(t)
	keys, err := hmackey.Ephemeral()
	must(t, err)
	h := serve(t, v, setupVault(t, v), keys, nil, vault.Config{Address: v.Addr}, lease.Options{MaxBytesPerPod: perPod, MaxBytes: 1 << 20}, spc.Limits{})
	leasedPKI(t, h)
	kept := func() float64 { return testutil.ToFloat64(h.metrics.LeaseCacheBytes) }
	dropped := func(reason string) float64 {
		return testutil.ToFloat64(h.metrics.LeaseCacheDropped.WithLabelValues(reason))
	}
	mountCerts := func(params map[string]string, n int) map[string]file {
		t.Helper()
		resp, err := h.mount(t, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := files(resp); len(got) != n {
			t.Fatalf("%d files, want %d", len(got), n)
		}
		return files(resp)
	}

	podB := map[string]string{"objects": leasedCertificates("b", 2), spc.KeyPodName: "web-2", spc.KeyPodUID: "9b7f0c1e-1111-4000-8000-000000000002"}
	certsB := mountCerts(podB, 2)
	keptB := kept()
	if keptB == 0 || keptB > perPod {
		t.Fatalf("pod B keeps %v bytes, want its two certificates, at most %d", keptB, perPod)
	}

	// Eight certificates of about 7 KiB each: more than pod A may keep.
	// Its republish issues anew those it dropped, dropping others.
	podA := map[string]string{"objects": leasedCertificates("a", 8)}
	for i := range 2 {
		mountCerts(podA, 8)
		if keptA := kept() - keptB; keptA <= 0 || keptA > perPod {
			t.Errorf("mount %d: pod A keeps %v bytes, want some, at most %d", i+1, keptA, perPod)
		}
		if i > 0 {
			continue
		}
		// Dropped, not revoked: Vault holds every lease issued.
		if n := h.liveLeases(t, "pki/issue/web/"); n != 10 {
			t.Errorf("Vault holds %d leases after pod A's first mount, want B's 2 and A's 8", n)
		}
	}
	if dropped("pod_limit") == 0 || dropped("node_limit") != 0 || dropped("too_large") != 0 {
		t.Errorf("dropped for pod_limit %v, node_limit %v, too_large %v; want some for pod_limit only",
			dropped("pod_limit"), dropped("node_limit"), dropped("too_large"))
	}

	// B's certificates were kept: its republish returns them, issuing none.
	issued := h.liveLeases(t, "pki/issue/web/")
	if diff := cmp.Diff(certsB, mountCerts(podB, 2)); diff != "" {
		t.Errorf("pod B's republish (-first +again):\n%s", diff)
	}
	if n := h.liveLeases(t, "pki/issue/web/"); n != issued {
		t.Errorf("Vault holds %d leases after pod B's republish, want still %d", n, issued)
	}
}
