package mount

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// reusePolicy is what a class lets its mounts reuse.
func reusePolicy(p *spc.Params) lease.Policy {
	return lease.Policy{
		NoLeases:              !p.LeaseReuse,
		NoCertificates:        p.Certificates.Off,
		RenewBefore:           p.Certificates.RenewBefore,
		RenewBeforePercentage: p.Certificates.RenewBeforePercentage,
	}
}

// loginRequest is the login the class asks for.
func loginRequest(p *spc.Params) auth.LoginRequest {
	return auth.LoginRequest{Pod: p.Pod, Role: p.RoleName, AuthMount: p.AuthMount, Audience: p.Audience, DriverTokens: p.DriverTokens}
}

// readIdentity is who reads request r from the Vault of cfg, logged in as
// login: what kept leases and last good responses are keyed by.
func readIdentity(login auth.LoginRequest, cfg vault.Config, r *spc.Request) lease.Identity {
	return lease.Identity{Namespace: login.Pod.Namespace, ServiceAccount: login.Pod.ServiceAccount, Role: login.Role,
		AuthMount: login.AuthMount, Audience: login.Audience, Vault: cfg, Request: r.Key}
}

// fetch logs in (or reuses a token) and sends the plan's requests.
func (s *Service) fetch(ctx context.Context, client *vault.Client, p *spc.Params) (responses, error) {
	lreq := loginRequest(p)
	defer s.forgetIfGone(ctx, p.Pod.UID)
	var (
		got      responses
		tokenEnd time.Time
	)
	err := s.opts.Auth.WithToken(ctx, client, lreq, func(tok auth.Token) error {
		tokenEnd = tok.Expires
		f := &fetcher{client: client, token: tok, login: lreq, limit: s.opts.Concurrency, leases: s.opts.Leases,
			policy: reusePolicy(p)}
		// Every response is held until the files are made.
		budget := vault.NewResponseBudget(int64(s.opts.Defaults.Limits.ResponseBytes), spc.FlagMaxResponseBytes)
		var err error
		got, err = f.fetchAll(vault.WithResponseBudget(ctx, budget), p.Plan.Requests)
		return err
	})
	window := s.staleWindow(p)
	switch {
	case window <= 0:
	case err == nil:
		s.keepForStale(ctx, client.Config(), p, got, tokenEnd)
	default:
		if old, ok := s.staleAnswer(ctx, client.Config(), p, window, err); ok {
			return old, nil
		}
	}
	return got, err
}

// responses holds what one mount read, by request. A request that is
// absent was missing in Vault and read only by optional objects.
type responses map[*spc.Request]*api.Secret

// fetcher reads the requests of one mount; it lives for one request.
type fetcher struct {
	client *vault.Client
	token  auth.Token
	// login is who the token was issued for; leases are kept per login.
	login auth.LoginRequest
	// leases keeps leased secrets and certificates for reuse; nil when
	// the node keeps none.
	leases *lease.Cache
	// policy is what this mount may reuse.
	policy lease.Policy
	limit  int
}

// fetchAll sends each of the plan's distinct requests once, so a
// certificate and its key taken from one pki/issue call belong together.
// The first failure cancels the rest.
func (f *fetcher) fetchAll(ctx context.Context, reqs []*spc.Request) (responses, error) {
	got := make([]*api.Secret, len(reqs))
	one := func(ctx context.Context, i int) error {
		r := reqs[i]
		s, err := f.fetch(ctx, r)
		switch {
		case err == nil:
			got[i] = s
		case r.Optional && errors.Is(err, vault.ErrNotFound):
			// Its objects are left out.
		default:
			return fmt.Errorf("%s: %w", r.Label, err)
		}
		return nil
	}
	if len(reqs) == 1 {
		// The common one-request volume: no goroutine needed.
		if err := one(ctx, 0); err != nil {
			return nil, err
		}
	} else {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(f.limit)
		for i := range reqs {
			g.Go(func() error { return one(gctx, i) })
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	out := make(responses, len(reqs))
	for i, r := range reqs {
		if got[i] != nil {
			out[r] = got[i]
		}
	}
	return out, nil
}

// fetch returns a kept leased secret while it is valid (renewing it when
// due), or a kept certificate until it is due, and reads from Vault
// otherwise.
func (f *fetcher) fetch(ctx context.Context, r *spc.Request) (*api.Secret, error) {
	var lk lease.Key
	if f.leases != nil {
		lk = lease.Key{PodUID: f.login.Pod.UID, Identity: readIdentity(f.login, f.client.Config(), r)}
		if s, ok := f.reuse(ctx, lk); ok {
			return s, nil
		}
	}
	s, err := f.client.Read(ctx, f.token.Value, vault.Request{Method: r.Method, Path: r.Path, Query: r.Query, EncodedBody: r.Body})
	if err != nil {
		return nil, err
	}
	if f.leases == nil {
		return s, nil
	}
	if lease.Kept(s) {
		if !f.policy.NoLeases {
			f.leases.Put(lk, s, f.token.Value, f.token.Expires)
		}
	} else if v, ok := issuedCertificate(r, s); ok {
		if f.policy.NoCertificates {
			f.leases.NotKept()
		} else {
			f.leases.PutCertificate(lk, s, v, f.token.Value)
		}
	}
	return s, nil
}

// issuedCertificate is lease.CertificateValidity for the response s to r.
// PKI issue and sign and SSH sign are writes, so the response to a read
// (GET) is what is stored, such as a KV copy of an issued certificate,
// which Vault 1.13 does not tell apart by mount_type.
func issuedCertificate(r *spc.Request, s *api.Secret) (lease.Validity, bool) {
	if r.Method == http.MethodGet {
		return lease.Validity{}, false
	}
	return lease.CertificateValidity(s)
}

func (f *fetcher) reuse(ctx context.Context, lk lease.Key) (*api.Secret, bool) {
	e, state := f.leases.Get(lk, f.policy)
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

// leaseTTL is the duration a secret's lease was granted for.
func leaseTTL(s *api.Secret) time.Duration {
	return time.Duration(s.LeaseDuration) * time.Second
}
