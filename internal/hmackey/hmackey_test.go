package hmackey

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

const (
	testNS   = "vault-csi"
	testName = "vault-csi-provider-hmac-key"
)

var secretsGR = schema.GroupResource{Resource: "secrets"}

func keySecret(data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: testName, Namespace: testNS},
		Data:       data,
	}
}

// verbs lists the verbs of the client's recorded actions, e.g. "get create".
func verbs(client *fake.Clientset) string {
	var v []string
	for _, a := range client.Actions() {
		v = append(v, a.GetVerb())
	}
	return strings.Join(v, " ")
}

func mustKey(t *testing.T, s *Source) []byte {
	t.Helper()
	k, err := s.Key(context.Background())
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return k
}

func TestKeyCreatesSecretWhenAbsent(t *testing.T) {
	client := fake.NewClientset()
	key := mustKey(t, New(kubetest.Clientset{Interface: client}, testNS, testName))

	sec, err := client.CoreV1().Secrets(testNS).Get(context.Background(), testName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret not created: %v", err)
	}
	if got := sec.Data[DataKey]; len(got) != 32 || !bytes.Equal(got, key) {
		t.Errorf("Secret holds %d bytes (equal to returned key: %v), want the 32-byte key", len(got), bytes.Equal(got, key))
	}
	if sec.Labels["app.kubernetes.io/managed-by"] != "vault-csi-provider" {
		t.Errorf("labels = %v, want managed-by vault-csi-provider", sec.Labels)
	}
	if sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", sec.Type)
	}
	if sec.Immutable != nil {
		t.Errorf("immutable = %v, want unset", *sec.Immutable)
	}
	if got := verbs(client); got != "get create get" { // the last get is ours above
		t.Errorf("actions = %q, want %q", got, "get create get")
	}
}

func TestKeyReusesExistingAndCaches(t *testing.T) {
	want := bytes.Repeat([]byte{7}, 32)
	client := fake.NewClientset(keySecret(map[string][]byte{DataKey: want}))
	s := New(kubetest.Clientset{Interface: client}, testNS, testName)

	if got := mustKey(t, s); !bytes.Equal(got, want) {
		t.Fatalf("Key = %x, want the existing %x", got, want)
	}
	got := mustKey(t, s)
	if !bytes.Equal(got, want) {
		t.Fatalf("second Key = %x, want %x", got, want)
	}
	if v := verbs(client); v != "get" {
		t.Errorf("actions = %q, want a single get", v)
	}

	got[0] = 0 // a caller scribbling on its copy must not change the cache
	if again := mustKey(t, s); !bytes.Equal(again, want) {
		t.Errorf("cached key was modified through a returned slice")
	}
}

func TestKeyConcurrentFirstCallsShareOneGet(t *testing.T) {
	want := bytes.Repeat([]byte{1}, 32)
	client := fake.NewClientset(keySecret(map[string][]byte{DataKey: want}))
	release := make(chan struct{})
	// Hold the GET until every caller has started, so they overlap.
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	s := New(kubetest.Clientset{Interface: client}, testNS, testName)

	const callers = 16
	var wg, started sync.WaitGroup
	errs := make(chan error, callers)
	started.Add(callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			k, err := s.Key(context.Background())
			if err == nil && !bytes.Equal(k, want) {
				err = errors.New("wrong key")
			}
			errs <- err
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Key: %v", err)
		}
	}
	if v := verbs(client); v != "get" {
		t.Errorf("actions = %q, want a single get", v)
	}
}

func TestKeyCreateRaceUsesWinner(t *testing.T) {
	winner := bytes.Repeat([]byte{9}, 32)
	client := fake.NewClientset()
	client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		// Another node creates the Secret between our GET and CREATE.
		if err := client.Tracker().Add(keySecret(map[string][]byte{DataKey: winner})); err != nil {
			t.Errorf("adding winner: %v", err)
		}
		return true, nil, apierrors.NewAlreadyExists(secretsGR, testName)
	})
	s := New(kubetest.Clientset{Interface: client}, testNS, testName)

	if got := mustKey(t, s); !bytes.Equal(got, winner) {
		t.Fatalf("Key = %x, want the winner's %x", got, winner)
	}
	if v := verbs(client); v != "get create get" {
		t.Errorf("actions = %q, want %q", v, "get create get")
	}
}

func TestKeyBadSecret(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
	}{
		{"too short", map[string][]byte{DataKey: []byte("short")}},
		{"too long", map[string][]byte{DataKey: bytes.Repeat([]byte{1}, 64)}},
		{"missing key", map[string][]byte{"other": bytes.Repeat([]byte{1}, 32)}},
		{"no data", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(keySecret(tt.data))
			s := New(kubetest.Clientset{Interface: client}, testNS, testName)
			_, err := s.Key(context.Background())
			if err == nil {
				t.Fatal("Key succeeded, want an error")
			}
			for _, want := range []string{testNS + "/" + testName, "delete the Secret"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			// Not cached: after the Secret is repaired the next call works.
			fixed := keySecret(map[string][]byte{DataKey: bytes.Repeat([]byte{2}, 32)})
			if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("secrets"), fixed, testNS); err != nil {
				t.Fatalf("repairing Secret: %v", err)
			}
			if got := mustKey(t, s); !bytes.Equal(got, fixed.Data[DataKey]) {
				t.Errorf("Key after repair = %x, want %x", got, fixed.Data[DataKey])
			}
		})
	}
}

func TestKeyAPIErrorsAreNotCached(t *testing.T) {
	forbidden := apierrors.NewForbidden(secretsGR, testName, errors.New("no RBAC"))
	tests := []struct {
		name, verb string
		existing   bool
		wantVerbs  string // after the failure and the successful retry
	}{
		{"get forbidden", "get", true, "get get"},
		{"create forbidden", "create", false, "get create get create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			want := bytes.Repeat([]byte{3}, 32)
			if tt.existing {
				client = fake.NewClientset(keySecret(map[string][]byte{DataKey: want}))
			}
			failed := false
			client.PrependReactor(tt.verb, "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				if failed {
					return false, nil, nil
				}
				failed = true
				return true, nil, forbidden
			})
			s := New(kubetest.Clientset{Interface: client}, testNS, testName)

			_, err := s.Key(context.Background())
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), testNS+"/"+testName) {
				t.Fatalf("err = %v, want a wrapped Forbidden naming the Secret", err)
			}
			got := mustKey(t, s)
			if tt.existing && !bytes.Equal(got, want) {
				t.Errorf("Key = %x, want %x", got, want)
			}
			if v := verbs(client); v != tt.wantVerbs {
				t.Errorf("actions = %q, want %q", v, tt.wantVerbs)
			}
		})
	}
}

func TestKeyCallerContext(t *testing.T) {
	s := New(kubetest.Clientset{Interface: fake.NewClientset()}, testNS, testName)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either outcome is fine for an already-cancelled caller, but an error
	// must be the caller's own cancellation.
	if _, err := s.Key(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want nil or context.Canceled", err)
	}
}

func TestForget(t *testing.T) {
	first := bytes.Repeat([]byte{4}, 32)
	client := fake.NewClientset(keySecret(map[string][]byte{DataKey: first}))
	s := New(kubetest.Clientset{Interface: client}, testNS, testName)
	mustKey(t, s)

	second := keySecret(map[string][]byte{DataKey: bytes.Repeat([]byte{5}, 32)})
	if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("secrets"), second, testNS); err != nil {
		t.Fatal(err)
	}
	if got := mustKey(t, s); !bytes.Equal(got, first) {
		t.Fatalf("before Forget Key = %x, want the cached %x", got, first)
	}
	s.Forget()
	if got := mustKey(t, s); !bytes.Equal(got, second.Data[DataKey]) {
		t.Errorf("after Forget Key = %x, want the recreated %x", got, second.Data[DataKey])
	}
	if v := verbs(client); v != "get get" {
		t.Errorf("actions = %q, want %q", v, "get get")
	}
}

func TestEphemeral(t *testing.T) {
	a, err := Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	k1 := mustKey(t, a)
	if len(k1) != 32 {
		t.Fatalf("key is %d bytes, want 32", len(k1))
	}
	a.Forget() // nothing to reread, so the key must survive
	if k2 := mustKey(t, a); !bytes.Equal(k1, k2) {
		t.Errorf("ephemeral key changed: %x then %x", k1, k2)
	}
	if bytes.Equal(k1, mustKey(t, b)) {
		t.Errorf("two ephemeral sources share a key")
	}
}
