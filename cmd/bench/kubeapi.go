package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

const (
	benchNode       = "bench-node"
	benchSystem     = "bench-system" // the provider's namespace, for its HMAC key Secret
	fakeKubeToken   = "bench-token"
	nodeSelector    = "spec.nodeName=" + benchNode
	maxWatchTimeout = 10 * time.Minute // when the client asks for no timeoutSeconds
)

// fakeKube is a minimal Kubernetes API server on a loopback port, serving
// exactly what the provider calls: its HMAC key Secret (get, create) and
// the list and watch of the node's pods. Pods are added and deleted by the
// bench; every change is a watch event with its own resource version, kept
// so that a watch resumed from a resource version replays what it missed.
type fakeKube struct {
	srv        *http.Server
	url        string
	kubeconfig string
	done       chan struct{}

	mu      sync.Mutex
	rv      int64
	pods    map[string]*corev1.Pod // by name, all in benchNamespace
	events  []watchEvent
	changed chan struct{} // closed and replaced on every event
	secrets map[string]*corev1.Secret
	lists   int
	watches int
	open    int // watches being served
}

type watchEvent struct {
	rv  int64
	typ string
	pod *corev1.Pod
}

// podRef is the identity of a bench pod, as its Mount request carries it.
type podRef struct{ name, uid, sa string }

// podRefs reads the pods' identities from their Mount requests.
func podRefs(reqs []*pb.MountRequest) ([]podRef, error) {
	refs := make([]podRef, len(reqs))
	for i, req := range reqs {
		var a map[string]string
		if err := json.Unmarshal([]byte(req.Attributes), &a); err != nil {
			return nil, fmt.Errorf("mount request attributes: %w", err)
		}
		refs[i] = podRef{name: a["csi.storage.k8s.io/pod.name"], uid: a["csi.storage.k8s.io/pod.uid"],
			sa: a["csi.storage.k8s.io/serviceAccount.name"]}
	}
	return refs, nil
}

// startFakeKube serves on a free loopback port and writes dir/kubeconfig
// pointing at it, with a dummy token that client-go leaves out over plain
// http (it sends credentials only over TLS), so none is checked.
func startFakeKube(dir string) (*fakeKube, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake kube-apiserver: %w", err)
	}
	k := &fakeKube{url: "http://" + lis.Addr().String(), done: make(chan struct{}), changed: make(chan struct{}),
		pods: map[string]*corev1.Pod{}, secrets: map[string]*corev1.Secret{}}
	k.kubeconfig = filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster: {server: %q}
users:
- name: bench
  user: {token: %q}
contexts:
- name: bench
  context: {cluster: bench, user: bench}
current-context: bench
`, k.url, fakeKubeToken)
	if err := os.WriteFile(k.kubeconfig, []byte(cfg), 0o600); err != nil {
		lis.Close()
		return nil, err
	}
	k.srv = &http.Server{Handler: http.HandlerFunc(k.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go k.srv.Serve(lis)
	return k, nil
}

// providerArgs are the flags that point the provider at this server.
func (k *fakeKube) providerArgs() []string {
	return []string{"-kubeconfig", k.kubeconfig, "-namespace", benchSystem, "-node-name", benchNode}
}

// close ends the open watches and the server.
func (k *fakeKube) close() {
	close(k.done)
	k.srv.Close()
}

// counts returns the pod lists and watches served, and the watches open.
func (k *fakeKube) counts() (lists, watches, open int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lists, k.watches, k.open
}

// waitWatching waits until a pod watch is open, i.e. the provider's
// informer has listed the pods and follows their events.
func (k *fakeKube) waitWatching(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, _, open := k.counts(); open > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	lists, _, _ := k.counts()
	return fmt.Errorf("the provider opened no pod watch on the fake kube-apiserver within %s (%d lists)", timeout, lists)
}

// addPods creates the pods on benchNode: one ADDED event each.
func (k *fakeKube) addPods(refs []podRef) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range refs {
		pod := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: benchNamespace, UID: types.UID(r.uid),
				CreationTimestamp: metav1.Now()},
			Spec: corev1.PodSpec{NodeName: benchNode, ServiceAccountName: r.sa,
				Containers: []corev1.Container{{Name: "app", Image: "bench"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		k.pods[r.name] = pod
		k.emitLocked("ADDED", pod)
	}
}

// deleteAll deletes every pod: one DELETED event each. It returns how many.
func (k *fakeKube) deleteAll() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := len(k.pods)
	now := metav1.Now()
	for name, pod := range k.pods {
		gone := pod.DeepCopy()
		gone.DeletionTimestamp = &now
		delete(k.pods, name)
		k.emitLocked("DELETED", gone)
	}
	return n
}

// emitLocked gives pod the next resource version, logs the event and wakes
// the watches. k.mu must be held.
func (k *fakeKube) emitLocked(typ string, pod *corev1.Pod) {
	k.rv++
	pod.ResourceVersion = strconv.FormatInt(k.rv, 10)
	k.events = append(k.events, watchEvent{rv: k.rv, typ: typ, pod: pod})
	close(k.changed)
	k.changed = make(chan struct{})
}
