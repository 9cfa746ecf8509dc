// Package fakeapi is a minimal Kubernetes API server on a loopback port
// for the programs that run the provider as a child (cmd/bench, test/ha):
// exactly what the provider calls, its key Secrets (get, create) and the
// list and watch of its node's pods, which the program adds and deletes.
package fakeapi

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

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

const (
	// Node is the node whose pods the server lists.
	Node = "bench-node"
	// System is the provider's namespace, for its key Secrets.
	System          = "bench-system"
	fakeKubeToken   = "bench-token"
	nodeSelector    = "spec.nodeName=" + Node
	maxWatchTimeout = 10 * time.Minute // when the client asks for no timeoutSeconds
)

// Server is a minimal Kubernetes API server on a loopback port, serving
// exactly what the provider calls: its key Secrets (get, create) and the
// list and watch of the node's pods. Pods are added and deleted by the
// program; every change is a watch event with its own resource version,
// kept so that a watch resumed from a resource version replays what it
// missed.
type Server struct {
	srv *http.Server
	url string
	// Kubeconfig points at the server.
	Kubeconfig string
	done       chan struct{}

	mu      sync.Mutex
	rv      int64
	pods    map[string]*corev1.Pod // by namespace/name
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

// Pod is the identity of a pod, as its Mount request carries it.
type Pod struct{ Name, Namespace, UID, ServiceAccount string }

func (p Pod) key() string { return p.Namespace + "/" + p.Name }

// PodsOf reads the pods' identities from their Mount requests.
func PodsOf(reqs []*pb.MountRequest) ([]Pod, error) {
	refs := make([]Pod, len(reqs))
	for i, req := range reqs {
		var a map[string]string
		if err := json.Unmarshal([]byte(req.Attributes), &a); err != nil {
			return nil, fmt.Errorf("mount request attributes: %w", err)
		}
		refs[i] = Pod{Name: a[spc.KeyPodName], Namespace: a[spc.KeyPodNamespace], UID: a[spc.KeyPodUID], ServiceAccount: a[spc.KeyServiceAccount]}
	}
	return refs, nil
}

// Start serves on a free loopback port and writes dir/kubeconfig
// pointing at it, with a dummy token that client-go leaves out over plain
// http (it sends credentials only over TLS), so none is checked.
func Start(dir string) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake kube-apiserver: %w", err)
	}
	k := &Server{url: "http://" + lis.Addr().String(), done: make(chan struct{}), changed: make(chan struct{}),
		pods: map[string]*corev1.Pod{}, secrets: map[string]*corev1.Secret{}}
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
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
	if err := os.WriteFile(k.Kubeconfig, []byte(cfg), 0o600); err != nil {
		lis.Close()
		return nil, err
	}
	k.srv = &http.Server{Handler: http.HandlerFunc(k.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go k.srv.Serve(lis)
	return k, nil
}

// ProviderArgs are the flags that point the provider at this server.
func (k *Server) ProviderArgs() []string {
	return []string{"-kubeconfig", k.Kubeconfig, "-namespace", System, "-node-name", Node}
}

// Close ends the open watches and the server.
func (k *Server) Close() {
	close(k.done)
	k.srv.Close()
}

// Counts returns the pod lists and watches served, and the watches open.
func (k *Server) Counts() (lists, watches, open int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lists, k.watches, k.open
}

// WaitWatching waits until a pod watch is open, i.e. the provider's
// informer has listed the pods and follows their events.
func (k *Server) WaitWatching(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, _, open := k.Counts(); open > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	lists, _, _ := k.Counts()
	return fmt.Errorf("the provider opened no pod watch on the fake kube-apiserver within %s (%d lists)", timeout, lists)
}

// AddPods creates the pods on Node: one ADDED event each.
func (k *Server) AddPods(refs []Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range refs {
		pod := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, UID: types.UID(r.UID),
				CreationTimestamp: metav1.Now()},
			Spec: corev1.PodSpec{NodeName: Node, ServiceAccountName: r.ServiceAccount,
				Containers: []corev1.Container{{Name: "app", Image: "bench"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
		k.pods[r.key()] = pod
		k.emitLocked("ADDED", pod)
	}
}

// DeletePods deletes the pods that exist among refs: one DELETED event
// each. It returns how many.
func (k *Server) DeletePods(refs []Pod) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	now := metav1.Now()
	for _, r := range refs {
		pod, ok := k.pods[r.key()]
		if !ok {
			continue
		}
		gone := pod.DeepCopy()
		gone.DeletionTimestamp = &now
		delete(k.pods, r.key())
		k.emitLocked("DELETED", gone)
		n++
	}
	return n
}

// DeleteAll deletes every pod: one DELETED event each. It returns how many.
func (k *Server) DeleteAll() int {
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
func (k *Server) emitLocked(typ string, pod *corev1.Pod) {
	k.rv++
	pod.ResourceVersion = strconv.FormatInt(k.rv, 10)
	k.events = append(k.events, watchEvent{rv: k.rv, typ: typ, pod: pod})
	close(k.changed)
	k.changed = make(chan struct{})
}
