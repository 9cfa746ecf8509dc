package podwatch

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

func TestDeleteEventForgetsOncePodsOfOtherNodesIgnored(t *testing.T) {
	e := start(t, newForgetter(), time.Hour,
		pod("a", node, corev1.PodRunning), pod("b", "node-b", corev1.PodRunning), pod("c", node, corev1.PodRunning))

	e.deletePod(t, "a")
	e.waitStarted(t, "a")
	e.deletePod(t, "b")
	// Events and the queue are in order: once c is forgotten, b's delete
	// event has been handled too.
	e.deletePod(t, "c")
	e.waitStarted(t, "c")
	// Forgets run concurrently: c's may end before a's.
	waitFor(t, "a and c forgotten", func() bool { got, _ := e.f.snapshot(); return len(got) >= 2 })
	e.stop(t)

	got, _ := e.f.snapshot()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("forgot %v, want a and c, each once", got)
	}
	// The fake clientset ignores field selectors, which is why the handlers
	// check spec.nodeName; the real API server gets the selector.
	for _, a := range e.client.Actions() {
		if l, ok := a.(clienttesting.ListAction); ok && a.GetResource() == podsGVR {
			if got := l.GetListRestrictions().Fields.String(); got != "spec.nodeName="+node {
				t.Errorf("list field selector %q, want spec.nodeName=%s", got, node)
			}
		}
	}
}

func TestSweepForgetsPodsThatAreGone(t *testing.T) {
	f := newForgetter("live", "failed", "succeeded", "other-node", "stale")
	e := start(t, f, 5*time.Millisecond,
		pod("live", node, corev1.PodRunning), pod("failed", node, corev1.PodFailed),
		pod("succeeded", node, corev1.PodSucceeded), pod("other-node", "node-b", corev1.PodRunning))

	want := []string{"failed", "other-node", "stale", "succeeded"}
	waitFor(t, "gone pods forgotten", func() bool { got, _ := f.snapshot(); return len(got) >= len(want) })
	_, n := f.snapshot()
	waitFor(t, "three more sweeps", func() bool { _, m := f.snapshot(); return m >= n+3 })
	e.stop(t)

	got, _ := f.snapshot()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("forgot %v, want %v (each once, never the live pod)", got, want)
	}
	for _, uid := range want {
		if !f.isGone(uid) {
			t.Errorf("%s forgotten without being reported gone", uid)
		}
	}
	if f.isGone("live") {
		t.Error("the live pod was reported gone")
	}
}

// TestBlockedForgetPodDoesNotDelayOthers: while ForgetPod of one pod hangs
// (its Vault does not answer), the next deleted pod is reported gone and
// forgotten.
func TestBlockedForgetPodDoesNotDelayOthers(t *testing.T) {
	f := newForgetter()
	release := make(chan struct{})
	f.block["a"] = release
	e := start(t, f, time.Hour, pod("a", node, corev1.PodRunning), pod("b", node, corev1.PodRunning))

	e.deletePod(t, "a")
	e.waitStarted(t, "a")
	e.deletePod(t, "b")
	e.waitStarted(t, "b")
	waitFor(t, "b forgotten", func() bool { got, _ := f.snapshot(); return slices.Contains(got, "b") })
	if got, _ := f.snapshot(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("forgot %v, want [b] while ForgetPod(a) still blocks", got)
	}
	if !e.f.isGone("b") {
		t.Error("b forgotten without being reported gone")
	}
	if !e.w.q.has("a") {
		t.Error("a no longer held while its ForgetPod blocks: a second delete event would forget it twice at once")
	}
	close(release)
	waitFor(t, "a forgotten", func() bool { return !e.w.q.has("a") })
}

func TestTombstoneFromRelistForgetsPod(t *testing.T) {
	client := fake.NewClientset(pod("a", node, corev1.PodRunning))
	first := watch.NewRaceFreeFake()
	var calls int
	opened := make(chan struct{})
	client.PrependWatchReactor("pods", func(clienttesting.Action) (bool, watch.Interface, error) {
		calls++ // under the Fake's lock
		if calls == 1 {
			close(opened)
			return true, first, nil
		}
		return false, nil, nil
	})
	f := newForgetter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- newWatcher(Options{Pods: kubetest.Clientset{Interface: client}.PodsOnNode(node), NodeName: node, Resync: time.Hour}, f).run(ctx, 10*time.Second)
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("watch not started")
	}

	// The delete never reaches the first watch; the watch then expires, the
	// informer relists without the pod and reports a tombstone.
	if err := client.Tracker().Delete(podsGVR, "ns", "pod-a"); err != nil {
		t.Fatal(err)
	}
	first.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired})
	select {
	case uid := <-f.started:
		if uid != "a" {
			t.Fatalf("ForgetPod(%q), want a", uid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tombstone did not forget the pod")
	}
}

func TestRunForbiddenFailsToSync(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(podsGVR.GroupResource(), "", errors.New("RBAC"))
	})
	w := newWatcher(Options{Pods: kubetest.Clientset{Interface: client}.PodsOnNode(node), NodeName: node}, newForgetter())
	err := w.run(context.Background(), time.Second)
	if !errors.Is(err, ErrNotSynced) || !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want ErrNotSynced wrapping Forbidden", err)
	}
	if !strings.Contains(err.Error(), "the provider needs list/watch on pods for -revoke-on-pod-delete") {
		t.Errorf("err = %q lacks the RBAC hint", err)
	}
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	t.Run("after sync", func(t *testing.T) {
		start(t, newForgetter(), time.Hour).stop(t) // stop fails the test on error or hang
	})
	t.Run("while waiting for sync", func(t *testing.T) {
		client := fake.NewClientset()
		listed := make(chan struct{}, 1)
		client.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
			select {
			case listed <- struct{}{}:
			default:
			}
			return true, nil, apierrors.NewForbidden(podsGVR.GroupResource(), "", errors.New("RBAC"))
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- newWatcher(Options{Pods: kubetest.Clientset{Interface: client}.PodsOnNode(node), NodeName: node}, newForgetter()).run(ctx, time.Hour)
		}()
		<-listed
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	})
}
