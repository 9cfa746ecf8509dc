package podwatch

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

func TestRunValidatesOptions(t *testing.T) {
	err := Run(context.Background(), Options{Resync: -time.Second}, newForgetter())
	if err == nil {
		t.Fatal("Run accepted empty options")
	}
	for _, want := range []string{"Pods is required", "NodeName is required", "must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %q", err, want)
		}
	}
}

func TestOnDelete(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  any
		want bool
	}{
		{"pod", pod("u", node, corev1.PodRunning), true},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "ns/pod-u", Obj: pod("u", node, corev1.PodRunning)}, true},
		{"other node", pod("u", "node-b", corev1.PodRunning), false},
		{"tombstone other node", cache.DeletedFinalStateUnknown{Key: "ns/pod-u", Obj: pod("u", "node-b", "")}, false},
		{"tombstone not a pod", cache.DeletedFinalStateUnknown{Key: "ns/x", Obj: &corev1.Secret{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWatcher(Options{Pods: kubetest.Clientset{Interface: fake.NewClientset()}.PodsOnNode(node), NodeName: node}, newForgetter())
			w.onDelete(tc.obj)
			if got := w.q.has("u"); got != tc.want {
				t.Errorf("queued = %v, want %v", got, tc.want)
			}
		})
	}
}

// A uid is forgotten only when it is missing at two sweeps in a row, so a pod
// mounted before the informer saw it keeps its leases.
func TestSweepNeedsTwoMisses(t *testing.T) {
	f := newForgetter("new", "gone")
	w := newWatcher(Options{Pods: kubetest.Clientset{Interface: fake.NewClientset()}.PodsOnNode(node), NodeName: node, Logger: slog.Default()}, f)
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)

	w.sweep(store)
	if w.q.has("new") || w.q.has("gone") {
		t.Fatal("first miss queued a uid")
	}
	if err := store.Add(pod("new", node, corev1.PodPending)); err != nil {
		t.Fatal(err)
	}
	w.sweep(store)
	if w.q.has("new") || !w.q.has("gone") {
		t.Fatalf("after second sweep: new queued %v (want false), gone queued %v (want true)", w.q.has("new"), w.q.has("gone"))
	}
}

func TestStripPod(t *testing.T) {
	now := metav1.Now()
	full := pod("u", node, corev1.PodRunning)
	full.ResourceVersion = "7"
	full.DeletionTimestamp = &now
	full.Labels = map[string]string{"app": "x"}
	full.Annotations = map[string]string{"big": strings.Repeat("x", 1000)}
	full.Spec.Containers = []corev1.Container{{Name: "c", Image: "img"}}
	full.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}}

	got, err := stripPod(full)
	if err != nil {
		t.Fatal(err)
	}
	want := pod("u", node, corev1.PodRunning)
	want.ResourceVersion = "7"
	want.DeletionTimestamp = &now
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stripPod (-want +got):\n%s", diff)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "k"}
	if got, _ := stripPod(tomb); got != tomb {
		t.Errorf("stripPod changed a non-pod: %v", got)
	}
}

func TestQueue(t *testing.T) {
	q := newQueue()
	for _, uid := range []string{"a", "b", "a"} {
		q.add(uid)
	}
	if q.add("b") {
		t.Error("add of a waiting uid reported true")
	}

	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 10)
	release := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.drain(ctx, func(_ context.Context, uid string) {
			started <- uid
			<-release[uid]
		}, nil, 0)
	}()

	// Both run at once: a blocked ForgetPod holds back no other uid.
	got := []string{recv(t, started), recv(t, started)}
	slices.Sort(got)
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("in flight together: %v, want %v", got, want)
	}
	if q.add("a") {
		t.Error("add of an in-flight uid reported true")
	}
	close(release["b"])
	waitFor(t, "b done while a is still in flight", func() bool { return !q.has("b") })
	if !q.has("a") {
		t.Error("a no longer held while its fn runs")
	}
	close(release["a"])
	waitFor(t, "a done", func() bool { return !q.has("a") })
	release["a"] = make(chan struct{})
	if !q.add("a") {
		t.Error("add after ForgetPod finished reported false")
	}
	if uid := recv(t, started); uid != "a" {
		t.Fatalf("started %q, want a again", uid)
	}
	cancel()
	close(release["a"])
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not return after cancel")
	}
	if q.has("a") {
		t.Error("drain returned before the fn it started had")
	}
}

// recv receives from c; the bound only guards against a hang.
func recv(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
		return ""
	}
}

// TestDrainCallsIdleOncePerBatch: idle comes once the queue has been empty
// for the quiet period, not after every uid.
func TestDrainCallsIdleOncePerBatch(t *testing.T) {
	q := newQueue()
	for _, uid := range []string{"a", "b", "c"} {
		q.add(uid)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var forgot atomic.Int32
	idle := make(chan int32, 10)
	go q.drain(ctx, func(context.Context, string) { forgot.Add(1) }, func() { idle <- forgot.Load() }, 10*time.Millisecond)
	if n := <-idle; n != 3 {
		t.Fatalf("idle after %d forgets, want once after the batch of 3", n)
	}
	q.add("d")
	if n := <-idle; n != 4 {
		t.Fatalf("idle after %d forgets, want 4", n)
	}
}

func TestReleaserIsRateLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	freed := 0
	r := &releaser{now: func() time.Time { return now }, free: func() { freed++ }}
	for _, step := range []struct {
		after time.Duration
		want  int
	}{
		{0, 1},                                // first burst: released
		{minReleaseInterval / 2, 1},           // too soon
		{minReleaseInterval / 2, 2},           // a full interval after the first
		{minReleaseInterval - time.Second, 2}, // too soon again
	} {
		now = now.Add(step.after)
		r.release()
		if freed != step.want {
			t.Fatalf("after +%s: freed %d times, want %d", step.after, freed, step.want)
		}
	}
}
