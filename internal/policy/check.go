package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// ErrDenied is wrapped by every refusal of Check.
var ErrDenied = errors.New("refused by the node's policy")

// Request is what one mount asks for, after the class's parameters and the
// pod's volumeAttributes are merged and the node's defaults applied.
type Request struct {
	Namespace string
	// NamespaceLabels are the namespace's labels, consulted only when a
	// rule matches by label (see NeedsLabels).
	NamespaceLabels map[string]string
	ServiceAccount  string
	// Set holds the parameter keys present in the merged attributes: what
	// the class or the pod wrote, as opposed to the node's defaults.
	Set []string
	// Addresses are the Vault addresses in force, one per element of a
	// several-address value.
	Addresses []string
	Role      string
	// AuthMount is the auth mount path as cleaned: no "auth/" prefix and no
	// slashes at its ends.
	AuthMount      string
	VaultNamespace string
	// Secrets are the class's distinct Vault requests.
	Secrets []Secret
}

// Secret is one Vault request: its method (GET, PUT or POST) and path, as
// in the class's secretPath, and Object, how messages name the first object
// that reads it (`object "db"`).
type Secret struct {
	Method, Path, Object string
}

// Denied is a refusal. Rule is the rule's name, "default", or AddressesPart
// or MayNotSetPart for the node-wide parts; Parameter is the
// SecretProviderClass parameter refused ("roleName",
// "secretPath"); Reason is the sentence that follows Rule in the
// message. Values from the class are quoted and shortened in Reason.
type Denied struct {
	Rule, Parameter, Reason string
}

// maxMessageBytes bounds a refusal's message: it ends up in the driver's
// logs and in Kubernetes events, where the pod's author reads it.
const maxMessageBytes = 512

func (d *Denied) Error() string {
	var subject string
	switch d.Rule {
	case DefaultRule:
		subject = "the default rule"
	case AddressesPart, MayNotSetPart:
		subject = d.Rule
	default:
		subject = "rule " + strconv.Quote(d.Rule)
	}
	return spc.Truncate(ErrDenied.Error()+": "+subject+" "+d.Reason, maxMessageBytes)
}

func (d *Denied) Unwrap() error { return ErrDenied }

// Check returns nil when the policy allows the request, else a *Denied for
// the first refusal in this order: classMayNotSet, vaultAddresses, then the
// namespace's rule (serviceAccounts, roles, authMounts, vaultNamespaces,
// secretPaths).
func (p *Policy) Check(r Request) error {
	for _, k := range r.Set {
		if p.mayNotSet[k] {
			return &Denied{Rule: MayNotSetPart, Parameter: k,
				Reason: "does not let a class or a pod's volumeAttributes set " + k + " (the node's setting applies)"}
		}
	}
	if err := p.checkAddresses(r.Addresses); err != nil {
		return err
	}
	return p.ruleFor(r.Namespace, r.NamespaceLabels).check(r)
}

func (p *Policy) checkAddresses(addrs []string) error {
	if p.vaultAddresses.any {
		return nil
	}
	deny := func(reason string) error {
		return &Denied{Rule: AddressesPart, Parameter: "vaultAddress", Reason: reason}
	}
	if len(addrs) == 0 {
		return deny("cannot be checked: no vaultAddress is in force")
	}
	for _, s := range addrs {
		a, problem := parseAddress(s, false)
		if problem != "" {
			return deny(fmt.Sprintf("does not allow vaultAddress %s: it %s", spc.Quote(s), problem))
		}
		if !slices.ContainsFunc(p.addresses, func(pat address) bool { return pat.matches(a) }) {
			return deny(fmt.Sprintf("does not allow vaultAddress %s (allowed: %s)", spc.Quote(s), listed(p.vaultAddresses.patterns)))
		}
	}
	return nil
}

func (r *rule) check(req Request) error {
	deny := func(param, reason string) error {
		return &Denied{Rule: r.name, Parameter: param, Reason: reason}
	}
	fields := []struct {
		param, value string
		allow        allow
		isPath       bool
	}{
		{"serviceAccount", req.ServiceAccount, r.serviceAccounts, false},
		{"roleName", req.Role, r.roles, false},
		{authParameter(req.Set), req.AuthMount, r.authMounts, true},
		{"vaultNamespace", strings.Trim(req.VaultNamespace, "/"), r.vaultNamespaces, true},
	}
	for _, f := range fields {
		if f.allow.any {
			continue
		}
		// "*" matches "/", so a pattern would match "team-a/../sys"
		// unless such paths are refused first.
		if f.isPath {
			if problem := pathProblem(f.value); problem != "" {
				return deny(f.param, fmt.Sprintf("does not allow %s %s: it %s", f.param, spc.Quote(f.value), problem))
			}
		}
		if !f.allow.permits(f.value) {
			return deny(f.param, fmt.Sprintf("does not allow %s %s (allowed: %s)", f.param, spc.Quote(f.value), listed(f.allow.patterns)))
		}
	}
	if r.secretPaths.any {
		return nil
	}
	for _, s := range req.Secrets {
		of := ""
		if s.Object != "" {
			of = " of " + s.Object
		}
		path := strings.Trim(s.Path, "/")
		if problem := pathProblem(path); problem != "" {
			return deny("secretPath", fmt.Sprintf("does not allow secretPath %s%s: it %s", spc.Quote(s.Path), of, problem))
		}
		var covered bool
		var methods []string // allowed for this path, by the entries that cover it
		for _, e := range r.secretPaths.entries {
			if e.covers(path) {
				covered = true
				methods = append(methods, e.methods...)
			}
		}
		switch {
		case !covered:
			return deny("secretPath", fmt.Sprintf("does not allow secretPath %s%s (allowed: %s)", spc.Quote(s.Path), of, listed(r.prefixes())))
		case !slices.Contains(methods, s.Method):
			return deny("method", fmt.Sprintf("does not allow method %s for secretPath %s%s (allowed: %s)",
				spc.Quote(s.Method), spc.Quote(s.Path), of, listed(uniq(methods))))
		}
	}
	return nil
}

func (r *rule) prefixes() []string {
	out := make([]string, len(r.secretPaths.entries))
	for i, e := range r.secretPaths.entries {
		out[i] = e.prefix
	}
	return out
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// authParameter names the parameter that set the auth mount, for the
// message: the class may have used either key, or neither (the node's
// default).
func authParameter(set []string) string {
	if !slices.Contains(set, "vaultAuthMountPath") && slices.Contains(set, "vaultKubernetesMountPath") {
		return "vaultKubernetesMountPath"
	}
	return "vaultAuthMountPath"
}

// maxListedBytes bounds the "allowed" list of a message, which the policy
// may make long.
const maxListedBytes = 160

// listed shows a policy's entries for a message: plain when they are plain,
// quoted otherwise, and cut short.
func listed(entries []string) string {
	if len(entries) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, e := range entries {
		if !onlyChars(e, lowerDigits+upperChars+"-_.:/*") || e == "" {
			e = spc.Quote(e)
		}
		if i > 0 && b.Len()+len(e) > maxListedBytes {
			fmt.Fprintf(&b, ", and %d more", len(entries)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e)
	}
	return b.String()
}
