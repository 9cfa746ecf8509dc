package mount

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// staleWindow is how old a last good response may be when served while
// Vault is down: the class's staleIfError capped by the node's
// -max-stale-if-error; 0 when either is off.
func (s *Service) staleWindow(p *spc.Params) time.Duration {
	if s.opts.Stale == nil {
		return 0
	}
	return min(p.StaleIfError, s.opts.MaxStaleIfError)
}

// staleKey is the identity and request a response is kept under.
func staleKey(cfg vault.Config, p *spc.Params, r *spc.Request) stale.Key {
	return readIdentity(loginRequest(p), cfg, r)
}

// keepForStale keeps the responses of a mount that succeeded, each charged
// to the mount's account first: one the account has no room for is not
// kept (the mount succeeds all the same).
func (s *Service) keepForStale(ctx context.Context, cfg vault.Config, p *spc.Params, got responses, tokenEnd time.Time) {
	acct := account.From(ctx)
	now := time.Now()
	for _, r := range p.Plan.Requests {
		sec := got[r]
		k := staleKey(cfg, p, r)
		size := stale.Size(k, sec)
		if err := acct.Charge(size, "a response kept for staleIfError"); err != nil {
			continue
		}
		s.opts.Stale.Put(k, stale.Response{Secret: sec, Obtained: now, Ends: responseEnd(sec, now, tokenEnd), Pod: leasePod(sec, p)}, size)
	}
	s.opts.Metrics.StaleKeptBytes.Set(float64(s.opts.Stale.Bytes()))
}

// responseEnd is when a response stops being valid whatever its age: its
// lease's end, capped by its token's (Vault revokes the lease with the
// token), or its certificate's; zero for a static secret.
func responseEnd(sec *api.Secret, now, tokenEnd time.Time) time.Time {
	switch {
	case sec == nil:
		return time.Time{}
	case lease.Kept(sec) || sec.LeaseID != "":
		end := now.Add(time.Duration(sec.LeaseDuration) * time.Second)
		if !tokenEnd.IsZero() && tokenEnd.Before(end) {
			end = tokenEnd
		}
		return end
	}
	if v, ok := lease.CertificateValidity(sec); ok {
		return v.End
	}
	return time.Time{}
}

// leasePod is the pod whose token holds sec's lease, "" for no lease.
func leasePod(sec *api.Secret, p *spc.Params) string {
	if sec == nil || sec.LeaseID == "" {
		return ""
	}
	return p.Pod.UID
}

// vaultDown reports an error that may be answered from stale responses:
// every address failed with a transport error or a 5xx, and the mount's
// own deadline has not passed. A 4xx (429 included) is Vault's answer.
func vaultDown(ctx context.Context, err error) bool {
	if ctx.Err() != nil || !errors.Is(err, vault.ErrUnavailable) {
		return false
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode < http.StatusInternalServerError {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// staleAnswer answers p from the responses its identity last read, if
// Vault is down and every request has one younger than window.
func (s *Service) staleAnswer(ctx context.Context, cfg vault.Config, p *spc.Params, window time.Duration, cause error) (responses, bool) {
	if !vaultDown(ctx, cause) {
		return nil, false
	}
	out := make(responses, len(p.Plan.Requests))
	oldest := time.Now()
	for _, r := range p.Plan.Requests {
		resp, ok := s.opts.Stale.Get(staleKey(cfg, p, r), window)
		if !ok {
			return nil, false
		}
		if resp.Secret != nil {
			out[r] = resp.Secret
		}
		if resp.Obtained.Before(oldest) {
			oldest = resp.Obtained
		}
	}
	s.opts.Metrics.StaleAnswers.Add(float64(len(p.Plan.Requests)))
	s.opts.Logger.WarnContext(ctx, "Vault unavailable: answered from the last good responses of this identity (staleIfError)",
		"age", time.Since(oldest).Round(time.Second).String(), "window", window.String(), "error", cause)
	return out, true
}
