package nslabels

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, ResourceVersion: "1"}}
}

// listThenWatch is a ListWatch whose watch sends no initial events: the
// informer lists first, as with an API server without streaming lists.
type listThenWatch struct{ *cache.ListWatch }

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

func TestLabelsFollowTheWatch(t *testing.T) {
	events := watch.NewFake()
	lists := 0
	lw := &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			lists++
			return &corev1.NamespaceList{ListMeta: metav1.ListMeta{ResourceVersion: "1"},
				Items: []corev1.Namespace{*namespace("shop", map[string]string{"team": "shop"})}}, nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) { return events, nil },
	}
	stop := make(chan struct{})
	defer close(stop)
	w := New(listThenWatch{lw}, stop, nil)
	if lists != 0 {
		t.Fatal("the watch started before anything asked")
	}
	ctx := context.Background()
	got, err := w.Labels(ctx, "shop")
	if err != nil || got["team"] != "shop" {
		t.Fatalf("Labels(shop) = %v, %v", got, err)
	}
	if _, err := w.Labels(ctx, "bank"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Labels(bank) = %v, want ErrUnknown", err)
	}
	events.Modify(namespace("shop", map[string]string{"team": "bank"}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := w.Labels(ctx, "shop")
		if got["team"] == "bank" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relabel not seen: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLabelsWithoutList(t *testing.T) {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return nil, errors.New(`namespaces is forbidden: User "system:serviceaccount:x:y" cannot list resource "namespaces"`)
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) { return watch.NewFake(), nil },
	}
	stop := make(chan struct{})
	defer close(stop)
	w := New(listThenWatch{lw}, stop, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := w.Labels(ctx, "shop"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Labels = %v, want ErrUnknown", err)
	}
}
