package podwatch

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// onDelete queues the deleted pod's uid. It only enqueues, so it returns at
// once whatever the Forgetter is doing.
func (w *watcher) onDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		w.log.Warn("pod watch: unexpected object in delete event", "type", fmt.Sprintf("%T", obj))
		return
	}
	// The API server applies the field selector; this check keeps the
	// behaviour right where it does not (the fake clientset ignores it).
	if pod.Spec.NodeName != w.node {
		return
	}
	w.f.PodGone(string(pod.UID))
	w.q.add(string(pod.UID))
}

// sweep queues the uids the Forgetter holds that were not running pods of
// this node at this sweep and the previous one.
func (w *watcher) sweep(store cache.Store) {
	running := make(map[string]struct{})
	for _, obj := range store.List() {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName == w.node && !terminated(pod) {
			running[string(pod.UID)] = struct{}{}
		}
	}
	missing := make(map[string]struct{})
	for _, uid := range w.f.PodUIDs() {
		if _, ok := running[uid]; ok {
			continue
		}
		if _, ok := w.missing[uid]; ok {
			w.f.PodGone(uid)
			w.q.add(uid)
		} else {
			missing[uid] = struct{}{}
		}
	}
	w.missing = missing
}

func (w *watcher) forget(ctx context.Context, uid string) {
	ctx, cancel := context.WithTimeout(ctx, forgetTimeout)
	defer cancel()
	w.log.Debug("pod gone: revoking its Vault tokens and leases", "pod_uid", uid)
	w.f.ForgetPod(ctx, uid)
}

// terminated pods never run again, so what was issued for them is unused. A
// pod with a deletionTimestamp is not: it may still be running its grace
// period and reading its secrets; its delete event follows.
func terminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// stripPod keeps a pod's identity, node, phase and deletionTimestamp, so the
// informer's cache stays small on nodes with many pods.
func stripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec:   corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}, nil
}
