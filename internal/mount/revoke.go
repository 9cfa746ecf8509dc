package mount

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/keyed"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

const (
	// revocationsPerAddress bounds the revocations in flight to one Vault
	// address (a cluster's list of addresses counts as one), so a Vault
	// that hangs on revoke holds no more than these.
	revocationsPerAddress = 4
	// revocationsTotal bounds the revocations in flight on the node.
	revocationsTotal = 16
)

// revocations bounds the revocations of deleted pods' tokens under way. A
// revocation waits for a slot of its own address before it joins the queue
// for the node's, so the revocations waiting behind a hung Vault hold none
// of the node's slots and other addresses' revocations go on.
type revocations struct {
	addrs *keyed.Semaphores
	total *semaphore.Weighted
}

func newRevocations(perAddress, total int) *revocations {
	return &revocations{addrs: keyed.New(int64(perAddress)), total: semaphore.NewWeighted(int64(total))}
}

// do runs fn once it holds a slot of addr and one of the node's, or returns
// an error if ctx ends first.
func (r *revocations) do(ctx context.Context, addr string, fn func(context.Context) error) error {
	release, err := r.addrs.Acquire(ctx, addr)
	if err != nil {
		return fmt.Errorf("gave up waiting for one of the %d revocation slots of this Vault address: %w", r.addrs.Slots(), err)
	}
	defer release()
	if err := r.total.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("gave up waiting for a revocation slot of the node: %w", err)
	}
	defer r.total.Release(1)
	return fn(ctx)
}

// revokeTokens revokes the tokens issued for the deleted pod uid, all at
// once within the bounds of s.revoking, and returns when every one is done.
func (s *Service) revokeTokens(ctx context.Context, uid string, tokens map[auth.Issued]bool) {
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			err := s.revoking.do(ctx, vault.ClusterKey(i.Vault.Address), func(ctx context.Context) error {
				client, err := s.opts.Clients.Get(ctx, i.Vault)
				if err != nil {
					return err
				}
				return client.RevokeSelf(ctx, i.Token)
			})
			switch {
			case err == nil:
			case errors.Is(err, vault.ErrPermissionDenied):
				// Already expired or revoked: nothing left to do.
			default:
				s.opts.Logger.WarnContext(ctx, "revoking the Vault token of a deleted pod failed; its leases end with their TTL",
					"pod_uid", uid, "vault_addr", i.Vault.Address, "error", err)
			}
		})
	}
	wg.Wait()
}
