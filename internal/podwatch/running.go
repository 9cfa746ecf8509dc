package podwatch

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Running lists the pods of node once and returns the UIDs of those still
// running there (not Succeeded or Failed): what a provider restarting with
// state compares its pods with before it serves, so that the pods deleted
// while it was down are revoked at once, without the sweep's second look.
// Every pod the state names was mounted before the restart, so it is in
// the API server's list if it still exists.
func Running(ctx context.Context, pods cache.ListerWatcher, node string) (map[string]bool, error) {
	obj, err := cache.ToListerWithContext(pods).ListWithContext(ctx, metav1.ListOptions{ResourceVersion: ""})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of node %q: %w", node, err)
	}
	list, ok := obj.(*corev1.PodList)
	if !ok {
		return nil, fmt.Errorf("listing the pods of node %q: got a %T", node, obj)
	}
	out := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == node && !terminated(p) {
			out[string(p.UID)] = true
		}
	}
	return out, nil
}
