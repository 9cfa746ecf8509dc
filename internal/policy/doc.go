// Package policy is the cluster admin's node policy: what the
// SecretProviderClasses of each namespace may ask for. In a shared cluster a
// class is written by an application team and a pod's inline
// volumeAttributes override its parameters (the driver merges them before
// the provider sees them), so the policy judges the merged parameters, after
// the node's defaults are applied.
//
// The policy has two node-wide parts, the Vault addresses a mount may use and
// the parameters no class may set, and an ordered list of rules: the first
// rule whose namespaces match applies, else the default rule. In every list
// of patterns "*" matches any run of characters, none and "/" included, and
// no other character is special. A field left out allows anything; an empty
// list allows nothing.
//
// deployment/examples/policy/two-teams.yaml documents the file format. A Policy is
// immutable once parsed and safe for concurrent use.
package policy
