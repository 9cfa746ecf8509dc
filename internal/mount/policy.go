package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Policies gives the node's policy in force (policy.File): it may change
// between two mounts, never during one.
type Policies interface {
	Current() *policy.Policy
}

// NamespaceLabels gives a namespace's labels, for policies whose rules
// match namespaces by label.
type NamespaceLabels interface {
	Labels(ctx context.Context, namespace string) (map[string]string, error)
}

// What one address or secret path of a mount costs the policy: its entry
// in the request, and its matches against the policy's patterns; and a
// refusal's message (bounded by the policy).
const (
	policyEntryBytes   = 64
	policyWorkPerEntry = 16
	policyMessageBytes = 1024
)

// ErrNamespaceLabels is wrapped when a policy needs a namespace's labels
// and they cannot be read: the mount is not judged by a rule it may not
// fall under, and the driver tries again.
var ErrNamespaceLabels = errors.New("the namespace's labels are unknown")

// checkPolicy judges a mount's parameters by the node's policy, before any
// network call or file access the class asks for.
func (s *Service) checkPolicy(ctx context.Context, acct *account.Account, p *spc.Params) error {
	if s.opts.Policy == nil {
		return nil
	}
	pol := s.opts.Policy.Current()
	// The request's lists, and the policy's work: a few matches per
	// address and secret path.
	n := len(p.Plan.Requests) + strings.Count(p.Vault.Address, ",") + 1
	if err := acct.Work(n*policyWorkPerEntry, "the node's policy"); err != nil {
		return err
	}
	if err := acct.Charge(n*policyEntryBytes+policyMessageBytes, "the node's policy"); err != nil {
		return err
	}
	req := policyRequest(p)
	if pol.NeedsLabels() {
		if s.opts.NamespaceLabels == nil {
			return fmt.Errorf("%w: the node's policy matches namespaces by label, and the provider does not watch namespaces (it needs Kubernetes access)", ErrNamespaceLabels)
		}
		labels, err := s.opts.NamespaceLabels.Labels(ctx, p.Pod.Namespace)
		if err != nil {
			return fmt.Errorf("%w: the node's policy matches namespaces by label: %w", ErrNamespaceLabels, err)
		}
		req.NamespaceLabels = labels
	}
	err := pol.Check(req)
	var d *policy.Denied
	if errors.As(err, &d) {
		s.opts.Metrics.PolicyDenials.WithLabelValues(d.Rule).Inc()
		// The message, which quotes the class's values, goes to the driver;
		// the log says who was refused by what.
		s.opts.Logger.WarnContext(ctx, "mount refused by the node's policy", slog.String("rule", d.Rule), slog.String("parameter", d.Parameter))
	}
	return err
}

// PolicyRule names the rule of the node's policy that applies to the
// attributes' namespace and checks them, without mounting: the offline
// check's -policy.
func (s *Service) PolicyRule(ctx context.Context, attrs map[string]string, labels map[string]string) (string, error) {
	p, err := spc.ParseParams(nil, attrs, s.opts.Defaults)
	if err != nil {
		return "", err
	}
	if s.opts.Policy == nil {
		return "", errors.New("no node policy")
	}
	pol := s.opts.Policy.Current()
	req := policyRequest(p)
	req.NamespaceLabels = labels
	return pol.RuleFor(p.Pod.Namespace, labels), pol.Check(req)
}

// policyRequest is what the mount asks for, as the policy judges it.
func policyRequest(p *spc.Params) policy.Request {
	req := policy.Request{
		Namespace:      p.Pod.Namespace,
		ServiceAccount: p.Pod.ServiceAccount,
		Set:            p.Set,
		Addresses:      vault.Addresses(p.Vault.Address),
		Role:           p.RoleName,
		AuthMount:      p.AuthMount,
		VaultNamespace: p.Vault.Namespace,
		Secrets:        make([]policy.Secret, len(p.Plan.Requests)),
	}
	for i, r := range p.Plan.Requests {
		req.Secrets[i] = policy.Secret{Method: r.Method, Path: r.Path, Object: r.Label}
	}
	return req
}
