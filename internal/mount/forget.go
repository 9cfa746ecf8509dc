package mount

import (
	"context"
	"errors"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// ForgetPod drops everything cached for a pod that is gone (parsed
// parameters, Vault tokens, leased secrets) and, when
// Options.Revoke is set, revokes the Vault tokens issued for it: revoking a
// token revokes every lease it created, so the pod's database users and
// certificates die with it instead of living out their TTL.
func (s *Service) ForgetPod(ctx context.Context, uid string) {
	for _, k := range s.parsed.Keys() {
		if p, ok := s.parsed.Peek(k); ok && p.Pod.UID == uid {
			s.parsed.Remove(k)
		}
	}
	tokens := map[auth.Issued]bool{}
	for _, i := range s.opts.Auth.ForgetPod(uid) {
		tokens[i] = true
	}
	leases := 0
	if s.opts.Leases != nil {
		for _, e := range s.opts.Leases.ForgetPod(uid) {
			tokens[auth.Issued{Vault: e.Vault, Token: e.Token}] = true
			leases++
		}
	}
	if !s.opts.Revoke {
		return
	}
	for i := range tokens {
		client, err := s.opts.Clients.Get(ctx, i.Vault)
		if err == nil {
			err = client.RevokeSelf(ctx, i.Token)
		}
		switch {
		case err == nil:
		case errors.Is(err, vault.ErrPermissionDenied):
			// Already expired or revoked: nothing left to do.
		default:
			s.opts.Logger.WarnContext(ctx, "revoking the Vault token of a deleted pod failed; its leases end with their TTL",
				"pod_uid", uid, "vault_addr", i.Vault.Address, "error", err)
		}
	}
	if leases > 0 {
		s.opts.Metrics.Leases.WithLabelValues("revoked").Add(float64(leases))
	}
	s.opts.Logger.DebugContext(ctx, "forgot deleted pod", "pod_uid", uid, "vault_logins", len(tokens), "leases", leases)
}

// PodUIDs lists the pods something is cached for.
func (s *Service) PodUIDs() []string {
	seen := map[string]bool{}
	for _, p := range s.parsed.Values() {
		if p.Pod.UID != "" {
			seen[p.Pod.UID] = true
		}
	}
	for _, uid := range s.opts.Auth.PodUIDs() {
		seen[uid] = true
	}
	if s.opts.Leases != nil {
		for _, uid := range s.opts.Leases.PodUIDs() {
			seen[uid] = true
		}
	}
	out := make([]string, 0, len(seen))
	for uid := range seen {
		out = append(out, uid)
	}
	return out
}
