// Package nslabels keeps the labels of the cluster's namespaces, for a node
// policy whose rules match namespaces by label. The watch starts on the first
// question, so a provider whose policy never asks needs no RBAC on
// namespaces; it then runs until the provider stops.
package nslabels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// ErrUnknown is wrapped when a namespace's labels cannot be told: the
// watch has not listed the namespaces yet (RBAC, API server down), or the
// namespace does not exist.
var ErrUnknown = errors.New("namespace labels unknown")

// Watch answers Labels from an informer of every namespace.
type Watch struct {
	lw   cache.ListerWatcher
	log  *slog.Logger
	stop <-chan struct{}

	once     sync.Once
	informer cache.SharedIndexInformer
	// lastErr is the watch's last error, for the message of a mount that
	// cannot be judged.
	mu      sync.Mutex
	lastErr error
}

// New returns a Watch on lw (internal/kube's Client.Namespaces) that runs,
// once started, until stop is closed.
func New(lw cache.ListerWatcher, stop <-chan struct{}, log *slog.Logger) *Watch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watch{lw: lw, stop: stop, log: log}
}

// syncWait bounds a mount's wait for the first list, so that without RBAC
// on namespaces mounts fail fast and say why.
const syncWait = 10 * time.Second

// Labels returns namespace's labels, waiting within ctx for the first list.
func (w *Watch) Labels(ctx context.Context, namespace string) (map[string]string, error) {
	w.once.Do(w.start)
	ctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		return nil, fmt.Errorf("%w: namespaces not listed yet (the provider needs list and watch on namespaces): %v", ErrUnknown, w.err())
	}
	obj, ok, err := w.informer.GetStore().GetByKey(namespace)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: no namespace %q", ErrUnknown, namespace)
	}
	return obj.(*metav1.PartialObjectMetadata).Labels, nil
}

func (w *Watch) start() {
	w.informer = cache.NewSharedIndexInformer(w.lw, &corev1.Namespace{}, 0, cache.Indexers{})
	// Only names and labels are kept.
	_ = w.informer.SetTransform(func(obj any) (any, error) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, ResourceVersion: ns.ResourceVersion}}, nil
		}
		return obj, nil
	})
	_ = w.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		w.mu.Lock()
		w.lastErr = err
		w.mu.Unlock()
		w.log.Warn("namespace watch interrupted: mounts judged by label rules of the node policy wait", "error", err)
	})
	w.log.Info("watching namespaces for the labels the node policy matches")
	go w.informer.Run(w.stop)
}

func (w *Watch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}
