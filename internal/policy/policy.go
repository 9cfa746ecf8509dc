package policy

import "strings"

// Names a Denied gives in Rule for the parts of the policy that are not
// named rules.
const (
	DefaultRule   = "default"
	AddressesPart = "vaultAddresses"
	MayNotSetPart = "classMayNotSet"
)

// Policy is a parsed node policy.
type Policy struct {
	// vaultAddresses is the list as written, for messages; addresses holds
	// its entries parsed, in the same order.
	vaultAddresses allow
	addresses      []address
	mayNotSet      map[string]bool
	rules          []rule
	defaultRule    rule
	needsLabels    bool
}

// rule is one entry of rules, or the default rule (which matches every
// namespace).
type rule struct {
	name string
	// A namespace matches when its name matches names and it has every
	// label of labels.
	names           allow
	labels          map[string]string
	serviceAccounts allow
	roles           allow
	authMounts      allow
	vaultNamespaces allow
	secretPaths     secretPaths
}

// secretPaths is a rule's secretPaths; any when the field was left out.
type secretPaths struct {
	any     bool
	entries []secretPath
}

type secretPath struct {
	// prefix ending in "/" covers the paths under it; any other names one
	// path.
	prefix  string
	methods []string
}

// covers reports whether the cleaned path p falls under the entry. A prefix
// matches on element boundaries only, so "secret/data/pay" does not cover
// "secret/data/payroll".
func (e secretPath) covers(p string) bool {
	if e.prefix[len(e.prefix)-1] == '/' {
		return strings.HasPrefix(p, e.prefix)
	}
	return p == e.prefix
}

func anyRule(name string) rule {
	return rule{
		name:            name,
		names:           allowAny,
		serviceAccounts: allowAny,
		roles:           allowAny,
		authMounts:      allowAny,
		vaultNamespaces: allowAny,
		secretPaths:     secretPaths{any: true},
	}
}

// matches reports whether the rule applies to the namespace.
func (r *rule) matches(namespace string, labels map[string]string) bool {
	if !r.names.permits(namespace) {
		return false
	}
	for k, v := range r.labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (p *Policy) ruleFor(namespace string, labels map[string]string) *rule {
	for i := range p.rules {
		if p.rules[i].matches(namespace, labels) {
			return &p.rules[i]
		}
	}
	return &p.defaultRule
}

// RuleFor names the rule that applies to a namespace ("default" for the
// default rule), for messages and dry runs. labels are the namespace's
// labels; without them no rule that matches by label applies.
func (p *Policy) RuleFor(namespace string, labels map[string]string) string {
	return p.ruleFor(namespace, labels).name
}

// NeedsLabels reports whether some rule matches namespaces by label, so
// that the caller must watch namespaces to pass their labels: a rule that
// cannot see them never matches, and a later, perhaps wider, rule applies.
func (p *Policy) NeedsLabels() bool { return p.needsLabels }
