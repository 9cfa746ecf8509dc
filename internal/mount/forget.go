package mount

import (
	"context"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
)

// ForgetPod drops everything cached for a pod that is gone (parsed
// parameters, Vault tokens, leased secrets) and, when
// Options.Revoke is set, revokes the Vault tokens issued for it: revoking a
// token revokes every lease it created, so the pod's database users and
// certificates die with it instead of living out their TTL. The tokens are
// revoked concurrently, within the bounds of revocations, and ForgetPod
// returns when every revocation is done or has given up with ctx.
func (s *Service) ForgetPod(ctx context.Context, uid string) {
	// Marked before the caches are emptied: a login finishing now either
	// cached its token before (and is emptied here) or sees the mark.
	s.PodGone(uid)
	for _, k := range s.parsed.Keys() {
		if p, ok := s.parsed.Peek(k); ok && p.Pod.UID == uid {
			s.parsed.Remove(k)
		}
	}
	tokens := map[auth.Issued]bool{}
	for _, i := range s.opts.Auth.ForgetPod(uid) {
		tokens[i] = true
	}
	if s.opts.Stale != nil {
		s.opts.Stale.ForgetPod(uid)
	}
	leases := 0
	if s.opts.Leases != nil {
		for _, e := range s.opts.Leases.ForgetPod(uid) {
			tokens[auth.Issued{Vault: e.Vault, Token: e.Token}] = true
			if e.Leased() {
				leases++
			}
		}
	}
	if !s.opts.Revoke {
		return
	}
	s.revokeTokens(ctx, uid, tokens)
	if leases > 0 {
		s.opts.Metrics.Leases.WithLabelValues("revoked").Add(float64(leases))
	}
	s.opts.Logger.DebugContext(ctx, "forgot deleted pod", "pod_uid", uid, "vault_logins", len(tokens), "leases", leases)
}

// goneSize bounds the deleted pods remembered. A UID is never reused, so
// only memory limits how long one is remembered; a mount lasts at most the
// kubelet's two minutes, far fewer pods than this are deleted on a node in
// that time.
const goneSize = 4096

// forgetAfterMountTimeout bounds the revocations a mount of a deleted pod
// makes on its way out.
const forgetAfterMountTimeout = 30 * time.Second

// PodGone records that the pod is deleted, at once and without I/O, so
// that tokens and leases its in-flight mounts cache afterwards are revoked
// as soon as they are cached, not left to the pod watch's next sweep.
func (s *Service) PodGone(uid string) {
	if uid != "" {
		s.gone.Add(uid, struct{}{})
	}
}

// forgetIfGone runs at the end of a mount's Vault work: if the pod was
// deleted meanwhile, what the mount cached for it is dropped and revoked
// now. It outlives the request's cancellation, bounded by its own timeout.
func (s *Service) forgetIfGone(ctx context.Context, uid string) {
	if !s.gone.Contains(uid) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetAfterMountTimeout)
	defer cancel()
	s.opts.Logger.InfoContext(ctx, "pod deleted during its mount: revoking what the mount cached for it", "pod_uid", uid)
	s.ForgetPod(ctx, uid)
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
