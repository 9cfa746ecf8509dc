package podwatch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
	clienttesting "k8s.io/client-go/testing"
)

const node = "node-a"

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func pod(uid, nodeName string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-" + uid, Namespace: "ns", UID: types.UID(uid)},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

// fakeForgetter caches uids like the provider does and records ForgetPod calls.
type fakeForgetter struct {
	mu      sync.Mutex
	cached  map[string]bool
	forgot  []string
	gone    map[string]bool // uids reported by PodGone
	sweeps  int
	block   map[string]chan struct{} // ForgetPod(uid) waits for close
	started chan string              // uids whose ForgetPod began
}

func newForgetter(cached ...string) *fakeForgetter {
	f := &fakeForgetter{cached: map[string]bool{}, gone: map[string]bool{}, block: map[string]chan struct{}{}, started: make(chan string, 100)}
	for _, uid := range cached {
		f.cached[uid] = true
	}
	return f
}

func (f *fakeForgetter) ForgetPod(ctx context.Context, uid string) {
	f.started <- uid
	f.mu.Lock()
	b := f.block[uid]
	f.mu.Unlock()
	if b != nil {
		select {
		case <-b:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cached, uid)
	f.forgot = append(f.forgot, uid)
}

func (f *fakeForgetter) PodGone(uid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone[uid] = true
}

func (f *fakeForgetter) isGone(uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gone[uid]
}

func (f *fakeForgetter) PodUIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps++
	uids := make([]string, 0, len(f.cached))
	for uid := range f.cached {
		uids = append(uids, uid)
	}
	return uids
}

func (f *fakeForgetter) snapshot() (forgot []string, sweeps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.forgot), f.sweeps
}

// waitFor polls cond until it holds or the test deadline of 10s passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type env struct {
	client *fake.Clientset
	f      *fakeForgetter
	w      *watcher
	cancel context.CancelFunc
	done   chan error
}

// start runs a watcher and returns once its informer has synced and its watch
// is open, so that later changes reach it as events.
func start(t *testing.T, f *fakeForgetter, resync time.Duration, pods ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(pods...)
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("pods", func(a clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(podsGVR, a.GetNamespace())
		once.Do(func() { close(watching) })
		return true, w, err
	})
	e := &env{client: client, f: f, done: make(chan error, 1)}
	e.w = newWatcher(Options{Pods: kubetest.Clientset{Interface: client}.PodsOnNode(node), NodeName: node, Resync: resync}, f)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.w.run(ctx, 10*time.Second) }()
	t.Cleanup(func() { e.stop(t) })
	select {
	case <-watching:
	case err := <-e.done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch not started")
	}
	waitFor(t, "first sweep after sync", func() bool { _, n := f.snapshot(); return n > 0 })
	return e
}

func (e *env) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		e.done <- nil // later stop calls return at once
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func (e *env) deletePod(t *testing.T, uid string) {
	t.Helper()
	if err := e.client.CoreV1().Pods("ns").Delete(context.Background(), "pod-"+uid, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) waitStarted(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-e.f.started:
		if got != want {
			t.Fatalf("ForgetPod(%q), want ForgetPod(%q)", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ForgetPod(%q) not called", want)
	}
}
