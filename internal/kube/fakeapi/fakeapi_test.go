package fakeapi

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube"
	"github.com/vault-csi-provider/vault-csi-provider/internal/podwatch"
)

// forgetter records ForgetPod calls, as the provider's mount service would
// act on them.
type forgetter struct {
	mu     sync.Mutex
	uids   []string
	forgot []string
}

func (f *forgetter) ForgetPod(_ context.Context, uid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, uid)
}

func (f *forgetter) PodGone(string) {}

func (f *forgetter) PodUIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uids)
}

func (f *forgetter) forgotten() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(f.forgot))
}

// TestFakeKube drives the fake API server with the provider's own client
// code: the HMAC key Secret, the pod watch, and a watch resumed from a
// resource version.
func TestFakeKube(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	kc, err := kube.NewClient(k.Kubeconfig, "bench-test", nil)
	if err != nil {
		t.Fatal(err)
	}

	const secret = "vault-csi-provider-hmac-key"
	created, err := hmackey.New(kc, System, secret).Key(ctx) // GET 404, POST 201
	if err != nil {
		t.Fatalf("creating the HMAC key: %v", err)
	}
	read, err := hmackey.New(kc, System, secret).Key(ctx) // GET 200
	if err != nil || string(read) != string(created) {
		t.Fatalf("reading the HMAC key: %v; same key: %v", err, string(read) == string(created))
	}

	var refs []Pod
	f := &forgetter{}
	for i := range 3 {
		r := Pod{Name: fmt.Sprintf("p-%d", i), Namespace: "bench", UID: fmt.Sprintf("uid-%d", i), ServiceAccount: "sa"}
		refs = append(refs, r)
		f.uids = append(f.uids, r.UID)
	}
	k.AddPods(refs[:1]) // before the list
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- podwatch.Run(wctx, podwatch.Options{Pods: kc.PodsOnNode(Node), NodeName: Node}, f)
	}()
	if err := k.WaitWatching(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	k.AddPods(refs[1:]) // through the watch
	if n := k.DeleteAll(); n != 3 {
		t.Fatalf("deleteAll = %d, want 3", n)
	}
	want := []string{"uid-0", "uid-1", "uid-2"}
	for !slices.Equal(f.forgotten(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("forgotten %v, want %v", f.forgotten(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("podwatch.Run: %v", err)
	}

	// Resource version 1 is the Secret's; a watch from 2 (the first pod's
	// ADDED) replays ADDED p-1, ADDED p-2, then the three DELETED.
	w, err := cache.ToListerWatcherWithContext(kc.PodsOnNode(Node)).WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for len(got) < 5 {
		select {
		case e := <-w.ResultChan():
			pod, ok := e.Object.(interface{ GetName() string })
			if !ok {
				t.Fatalf("event %s with %T", e.Type, e.Object)
			}
			got = append(got, string(e.Type)+" "+pod.GetName())
		case <-ctx.Done():
			t.Fatalf("replayed %v", got)
		}
	}
	if got[0] != string(watch.Added)+" p-1" || got[1] != string(watch.Added)+" p-2" || got[2][:7] != string(watch.Deleted) {
		t.Errorf("replayed %v", got)
	}
}
