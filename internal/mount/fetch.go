package mount

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// fetcher reads the objects of one mount; it lives for one request.
type fetcher struct {
	client *vault.Client
	token  auth.Token
	// login is who the token was issued for; leases are kept per login.
	login auth.LoginRequest
	// leases keeps leased secrets for reuse; nil when reuse is off.
	leases *lease.Cache
	limit  int
}

// fetchAll reads every object's secret, returned in the order of objs;
// keys[i] is objs[i]'s request key. Identical requests (same method, path,
// query and arguments) are sent once, so a certificate and its key taken
// from one pki/issue call belong together. The first failure cancels the
// rest.
func (f *fetcher) fetchAll(ctx context.Context, objs []Object, keys []string) ([]*api.Secret, error) {
	unique := map[string]int{} // request key -> index of the first object
	for i, k := range keys {
		if _, ok := unique[k]; !ok {
			unique[k] = i
		}
	}

	results := make([]*api.Secret, len(objs))
	if len(unique) == 1 {
		// One request (the common one-object volume): no goroutine needed.
		obj := objs[0]
		s, err := f.fetch(ctx, obj, keys[0])
		if err != nil {
			return nil, fmt.Errorf("object %q: %w", obj.Name, err)
		}
		for i := range results {
			results[i] = s
		}
		return results, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.limit)
	for key, i := range unique {
		obj := objs[i]
		g.Go(func() error {
			s, err := f.fetch(gctx, obj, key)
			if err != nil {
				return fmt.Errorf("object %q: %w", obj.Name, err)
			}
			results[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, k := range keys {
		results[i] = results[unique[k]]
	}
	return results, nil
}

// fetch returns a kept leased secret while it is valid (renewing it when
// due) and reads from Vault otherwise.
func (f *fetcher) fetch(ctx context.Context, obj Object, key string) (*api.Secret, error) {
	var lk lease.Key
	if f.leases != nil {
		lk = lease.Key{PodUID: f.login.Pod.UID, Role: f.login.Role, AuthMount: f.login.AuthMount, Audience: f.login.Audience,
			Vault: f.client.Config(), Request: key}
		if s, ok := f.reuse(ctx, lk); ok {
			return s, nil
		}
	}
	s, err := f.client.Read(ctx, f.token.Value, vault.Request{Method: obj.Method, Path: obj.Path, Query: obj.Query, Body: obj.Args})
	if err != nil {
		return nil, err
	}
	if f.leases != nil && lease.Kept(s) {
		f.leases.Put(lk, s, f.token.Value, f.token.Expires)
	}
	return s, nil
}

func (f *fetcher) reuse(ctx context.Context, lk lease.Key) (*api.Secret, bool) {
	e, state := f.leases.Get(lk)
	switch state {
	case lease.Fresh:
		return e.Secret, true
	case lease.Renew:
		// Ask for the lease's original duration; Vault caps it at max TTL.
		r, err := f.client.RenewLease(ctx, f.token.Value, e.Secret.LeaseID, leaseTTL(e.Secret))
		if err == nil && f.leases.Renewed(lk, r.TTL, r.Renewable) {
			return e.Secret, true
		}
		f.leases.Drop(lk)
	}
	return nil, false
}

// requestKeys identifies each object's Vault request; json.Marshal sorts
// map keys and url.Values.Encode sorts parameters, so equal requests give
// equal keys, and length prefixes keep different requests apart whatever
// their fields contain.
func requestKeys(objs []Object) ([]string, error) {
	keys := make([]string, len(objs))
	for i, obj := range objs {
		args, err := json.Marshal(obj.Args)
		if err != nil {
			return nil, fmt.Errorf("object %q: secretArgs cannot be sent as JSON: %w", obj.Name, err)
		}
		keys[i] = string(lengthPrefixed(obj.Method, obj.Path, obj.Query.Encode(), string(args)))
	}
	return keys, nil
}

// leaseTTL is the duration a secret's lease was granted for.
func leaseTTL(s *api.Secret) time.Duration {
	return time.Duration(s.LeaseDuration) * time.Second
}
