// Package hmackey provides the secret key that object versions are computed
// with. Versions are HMAC-SHA256 of the content, so they reveal nothing about
// a secret without the key. The key is 32 random bytes kept in a Kubernetes
// Secret, created by whichever provider pod needs it first, and cached in
// memory so that a warm mount makes no Kubernetes API call.
package hmackey

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// DataKey is the Secret's data key holding the key bytes.
	DataKey = "key"
	// keySize is the key length in bytes, SHA-256's output size, the
	// minimum RFC 2104 recommends.
	keySize = 32
	// fetchTimeout bounds the shared fetch, which does not follow any single
	// caller's context (see Key).
	fetchTimeout = 30 * time.Second
)

// Source hands out the HMAC key. It is safe for concurrent use.
type Source struct {
	client    SecretClient // nil for an ephemeral Source
	namespace string
	name      string
	// what names the key in errors: "HMAC key" unless NewNamed says.
	what string

	flight singleflight.Group
	mu     sync.Mutex
	key    []byte // nil until loaded
}

// SecretClient reads and creates Secrets (internal/kube's Client). Errors
// from the API server must satisfy apierrors.IsNotFound / IsAlreadyExists.
type SecretClient interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	CreateSecret(ctx context.Context, s *corev1.Secret) (*corev1.Secret, error)
}

// New returns a Source reading, or creating, Secret namespace/name through
// client.
func New(client SecretClient, namespace, name string) *Source {
	return NewNamed(client, namespace, name, "HMAC key")
}

// NewNamed is New for another key kept the same way (the state file's),
// what naming it in errors.
func NewNamed(client SecretClient, namespace, name, what string) *Source {
	return &Source{client: client, namespace: namespace, name: name, what: what}
}

// Ephemeral returns a Source with a random in-memory key and no Kubernetes
// behind it. Object versions computed with it change when the process
// restarts.
func Ephemeral() (*Source, error) {
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	return &Source{key: key, what: "HMAC key"}, nil
}

// Key returns the key. After the first success it is served from memory.
// Concurrent first calls share one fetch. Failures are not cached, so the
// next call retries.
func (s *Source) Key(ctx context.Context) ([]byte, error) {
	if k := s.cached(); k != nil {
		return k, nil
	}
	// The fetch is shared, so it must not fail because the caller that
	// started it went away; each caller still stops waiting at its own
	// deadline.
	ch := s.flight.DoChan("key", func() (any, error) {
		if k := s.cached(); k != nil {
			return k, nil // loaded by a fetch that ended after our check
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		k, err := s.load(fctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.key = k
		s.mu.Unlock()
		return k, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return bytes.Clone(res.Val.([]byte)), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the %s from Secret %s/%s: %w", s.what, s.namespace, s.name, ctx.Err())
	}
}

// Forget drops the cached key so that the next Key call reads the Secret
// again, e.g. after it was deleted and recreated. An ephemeral Source keeps
// its key: there is nothing to reread it from.
func (s *Source) Forget() {
	if s.client == nil {
		return
	}
	s.mu.Lock()
	s.key = nil
	s.mu.Unlock()
}

// cached returns a copy of the cached key, or nil. Callers get copies so none
// can alter the key another mount uses.
func (s *Source) cached() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.key)
}

// load reads the Secret, creating it when absent. When another pod creates
// it first, that pod's key wins and is the one returned.
func (s *Source) load(ctx context.Context) ([]byte, error) {
	sec, err := s.client.GetSecret(ctx, s.namespace, s.name)
	switch {
	case err == nil:
		return s.keyFrom(sec)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading %s Secret %s/%s: %w", s.what, s.namespace, s.name, err)
	}

	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	_, err = s.client.CreateSecret(ctx, s.newSecret(key))
	switch {
	case err == nil:
		return key, nil
	case !apierrors.IsAlreadyExists(err):
		return nil, fmt.Errorf("creating %s Secret %s/%s: %w", s.what, s.namespace, s.name, err)
	}

	sec, err = s.client.GetSecret(ctx, s.namespace, s.name)
	if err != nil {
		return nil, fmt.Errorf("reading %s Secret %s/%s after another pod created it: %w", s.what, s.namespace, s.name, err)
	}
	return s.keyFrom(sec)
}

func (s *Source) keyFrom(sec *corev1.Secret) ([]byte, error) {
	key, ok := sec.Data[DataKey]
	if !ok {
		return nil, fmt.Errorf("%s Secret %s/%s has no data key %q; delete the Secret so that it is recreated",
			s.what, s.namespace, s.name, DataKey)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("%s Secret %s/%s: data key %q holds %d bytes, want %d; delete the Secret so that it is recreated",
			s.what, s.namespace, s.name, DataKey, len(key), keySize)
	}
	return bytes.Clone(key), nil
}

func (s *Source) newSecret(key []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.name,
			Namespace: s.namespace,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "vault-csi-provider"},
		},
		Type: corev1.SecretTypeOpaque,
		// Not immutable, so a damaged key can be repaired in place as well as
		// by deleting the Secret.
		Data: map[string][]byte{DataKey: key},
	}
}

func randomKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating HMAC key: %w", err)
	}
	return key, nil
}
