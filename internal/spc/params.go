package spc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// SecretProviderClass parameter keys, as hashicorp/vault-csi-provider names
// them, and the pod keys the driver adds. Exported so that tools and tests
// build the driver's Mount request with the keys the provider reads.
const (
	KeyRoleName        = "roleName"
	KeyVaultAddress    = "vaultAddress"
	KeyVaultNamespace  = "vaultNamespace"
	KeyAudience        = "audience"
	KeyAuthMount       = "vaultAuthMountPath"
	KeyKubernetesMount = "vaultKubernetesMountPath"
	KeyCACert          = "vaultCACertPath"
	KeyCADirectory     = "vaultCADirectory"
	KeyTLSServerName   = "vaultTLSServerName"
	KeyClientCert      = "vaultTLSClientCertPath"
	KeyClientKey       = "vaultTLSClientKeyPath"
	KeySkipVerify      = "vaultSkipTLSVerify"
	KeyObjects         = "objects"
	KeyLeaseReuse      = "leaseReuse"
	KeyCertReuse       = "certificateReuse"
	KeyRenewBefore     = "renewBefore"
	KeyRenewBeforePct  = "renewBeforePercentage"
	KeyStaleIfError    = "staleIfError"
	KeyPodName         = "csi.storage.k8s.io/pod.name"
	KeyPodNamespace    = "csi.storage.k8s.io/pod.namespace"
	KeyPodUID          = "csi.storage.k8s.io/pod.uid"
	KeyServiceAccount  = "csi.storage.k8s.io/serviceAccount.name"
	KeyDriverTokens    = "csi.storage.k8s.io/serviceAccount.tokens"
)

const (
	defaultAuthMount    = "kubernetes"
	defaultAuthMountSrc = "the provider's default auth mount"
	podInfoOnMountHint  = "set podInfoOnMount: true in the secrets-store.csi.k8s.io CSIDriver object"
	authMountPathHint   = "give the auth method's mount path, e.g. kubernetes or jwt"
)

// Defaults are the node-wide values (environment < flags);
// SecretProviderClass parameters override them field by field.
type Defaults struct {
	Vault     vault.Config
	AuthMount string // e.g. "kubernetes"
	Audience  string // e.g. "vault"
	// Limits are not defaults a class overrides but bounds it must keep.
	Limits Limits
	// NoLeaseReuse (-lease-reuse=false) turns lease reuse off for every
	// class.
	NoLeaseReuse bool
	// Certificates is how certificates issued without a lease are reused
	// unless a class says otherwise.
	Certificates Certificates
}

// Certificates says how certificates issued without a lease (PKI issue and
// sign, SSH sign) are kept for republish. The zero value keeps each until
// two thirds of its validity have passed.
type Certificates struct {
	// Off issues a new certificate on every mount, as the reference does.
	Off bool
	// RenewBefore issues anew this long before the certificate ends.
	RenewBefore time.Duration
	// RenewBeforePercentage issues anew when this percentage of the
	// validity is left (1 to 99); used when RenewBefore is zero.
	RenewBeforePercentage int
}

// Params is everything one Mount request asks for, validated.
type Params struct {
	RoleName  string
	AuthMount string // cleaned: no leading "auth/", no leading/trailing "/"
	Audience  string
	Vault     vault.Config // defaults merged with SPC values
	Pod       auth.Pod
	// SyncController: the Mount comes from the Secrets Store sync
	// controller (FromSyncController), whose pod stands for every
	// namespace's SecretSyncs.
	SyncController bool
	// DriverTokens is the raw value of csi.storage.k8s.io/serviceAccount.tokens
	// ("" if absent). It holds tokens: never log it.
	DriverTokens string
	Plan         *Plan
	// LeaseReuse allows returning a still-valid leased secret (database
	// credentials, leased certificates) on republish instead of minting a
	// new one; leaseReuse: "false" turns it off for the class.
	LeaseReuse bool
	// Certificates is the class's reuse of certificates without a lease.
	Certificates Certificates
	// StaleIfError is how old a last good response may be and still be
	// served while every address of the class's Vault is down; 0: never.
	// The node's -max-stale-if-error caps it.
	StaleIfError time.Duration
	// Set are the class parameters the attributes set (ClassParameters), as
	// opposed to the node's defaults: what the node's policy may forbid.
	Set []string
	// Bytes is what the parameters hold in memory, for the caches that
	// keep them.
	Bytes int
}

// ClassParameters are the parameters a SecretProviderClass (or a pod's
// inline volumeAttributes) may set; the driver adds the csi.storage.k8s.io
// keys.
var ClassParameters = []string{
	KeyRoleName, KeyVaultAddress, KeyVaultNamespace, KeyAudience, KeyAuthMount, KeyKubernetesMount,
	KeyCACert, KeyCADirectory, KeyTLSServerName, KeyClientCert, KeyClientKey, KeySkipVerify, KeyLeaseReuse,
	KeyCertReuse, KeyRenewBefore, KeyRenewBeforePct, KeyStaleIfError, KeyObjects,
}

// checkedKeys are the parameters read as single-line text; none may hold a
// control character (objects is YAML, and the tokens are JSON that
// auth.ParseDriverTokens reads strictly).
var checkedKeys = append(slices.DeleteFunc(slices.Clone(ClassParameters), func(k string) bool { return k == KeyObjects }),
	KeyPodName, KeyPodNamespace, KeyPodUID, KeyServiceAccount)

// setParameters are the class parameters attrs sets: an empty value counts
// as unset, as everywhere else.
func setParameters(attrs map[string]string) []string {
	var set []string
	for _, k := range ClassParameters {
		if attrs[k] != "" {
			set = append(set, k)
		}
	}
	return set
}

// attrsSize is the bytes of the attributes' keys and values, a lower bound
// of their JSON encoding.
func attrsSize(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(v)
	}
	return n
}

// AttrsTooLarge is the problem of attributes of size bytes, over limit.
func AttrsTooLarge(size, limit int) *ParamsError {
	return &ParamsError{Problems: []string{fmt.Sprintf("the attributes are %d bytes, above the limit of %d bytes (%s): "+
		"they hold the class's parameters and the pod's service-account tokens; shorten the objects or ask the operator to raise %s",
		size, limit, FlagMaxAttributesBytes, FlagMaxAttributesBytes)}}
}

// ParseParams parses the Mount request attributes (SecretProviderClass
// parameters plus the driver's pod keys). It reports every problem at once,
// each naming the parameter or the object (by objectName, or by index if it
// has none). Keys it does not know are ignored: the driver adds many.
// What parsing makes (the YAML tree, templates, the plan) is charged to
// acct before it is made; its refusal is returned as it is.
func ParseParams(acct *account.Account, attrs map[string]string, d Defaults) (*Params, error) {
	lim := d.Limits.OrDefault()
	size := attrsSize(attrs)
	if size > lim.AttributesBytes {
		return nil, AttrsTooLarge(size, lim.AttributesBytes)
	}
	probs := problems{acct: acct}
	for _, k := range checkedKeys {
		if c := controlChar(attrs[k], nil); c != "" {
			probs.add("%s contains %s: remove it", k, c)
		}
	}
	p := &Params{
		RoleName:     attrs[KeyRoleName],
		Audience:     pick(attrs[KeyAudience], d.Audience),
		DriverTokens: attrs[KeyDriverTokens],
		Set:          setParameters(attrs),
	}
	if p.RoleName == "" {
		probs.add("roleName is required: set it to the Vault role the pod logs in with")
	}
	p.Vault = mergeVault(attrs, d.Vault, &probs)
	p.AuthMount = authMount(attrs, d.AuthMount, &probs)
	p.Pod = podInfo(attrs, &probs)
	p.SyncController = FromSyncController(attrs)
	p.LeaseReuse = !d.NoLeaseReuse && boolParam(attrs, KeyLeaseReuse, true, &probs)
	p.Certificates = certificates(attrs, d.Certificates, &probs)
	p.StaleIfError = staleIfError(attrs[KeyStaleIfError], &probs)
	objs, labels := parseObjects(attrs[KeyObjects], lim, &probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	p.Plan = buildPlan(objs, labels, lim, &probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	// The parameters keep strings of the attributes (the tokens among them).
	p.Bytes = p.Plan.Bytes + size + (len(attrs)+len(p.Set))*account.StringBytes
	return p, nil
}

// staleIfError reads the class's staleIfError window, a Go duration.
func staleIfError(s string, probs *problems) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		probs.add("%s %s is not a duration of 0 or more: write it as Go does, e.g. 10m or 1h", KeyStaleIfError, Quote(s))
		return 0
	}
	return d
}

// boolParam reads a "true"/"false" parameter, def when it is unset.
func boolParam(attrs map[string]string, key string, def bool, probs *problems) bool {
	s := attrs[key]
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		probs.add("%s %s is not a boolean: use \"true\" or \"false\"", key, Quote(s))
		return def
	}
	return b
}

// certificates reads the class's certificate reuse over the node's d. A
// class that sets renewBefore or renewBeforePercentage replaces both of
// the node's.
func certificates(attrs map[string]string, d Certificates, probs *problems) Certificates {
	c := d
	c.Off = !boolParam(attrs, KeyCertReuse, !d.Off, probs)
	before, pct := attrs[KeyRenewBefore], attrs[KeyRenewBeforePct]
	switch {
	case before != "" && pct != "":
		probs.add("both %s and %s are set: keep one", KeyRenewBefore, KeyRenewBeforePct)
	case before != "":
		dur, err := time.ParseDuration(before)
		if err != nil || dur <= 0 {
			probs.add("%s %s is not a positive duration: write it as cert-manager does, e.g. 720h or 30m", KeyRenewBefore, Quote(before))
			break
		}
		c.RenewBefore, c.RenewBeforePercentage = dur, 0
	case pct != "":
		n, err := strconv.Atoi(pct)
		if err != nil || n < 1 || n > 99 {
			probs.add("%s %s is not a whole number from 1 to 99 (the percentage of the validity left when a certificate is issued anew)", KeyRenewBeforePct, Quote(pct))
			break
		}
		c.RenewBefore, c.RenewBeforePercentage = 0, n
	}
	return c
}

// pick returns the SecretProviderClass value v, or def when v is empty:
// an empty parameter counts as unset.
func pick(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func mergeVault(attrs map[string]string, d vault.Config, probs *problems) vault.Config {
	c := vault.Config{
		Address:       pick(attrs[KeyVaultAddress], d.Address),
		Namespace:     pick(attrs[KeyVaultNamespace], d.Namespace),
		CACert:        pick(attrs[KeyCACert], d.CACert),
		CADirectory:   pick(attrs[KeyCADirectory], d.CADirectory),
		TLSServerName: pick(attrs[KeyTLSServerName], d.TLSServerName),
		ClientCert:    pick(attrs[KeyClientCert], d.ClientCert),
		ClientKey:     pick(attrs[KeyClientKey], d.ClientKey),
		SkipVerify:    d.SkipVerify,
	}
	if s := attrs[KeySkipVerify]; s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			probs.add("%s %s is not a boolean: use \"true\" or \"false\"", KeySkipVerify, Quote(s))
		}
		c.SkipVerify = b
	}
	source := KeyVaultAddress
	if attrs[KeyVaultAddress] == "" {
		source = "the provider's default Vault address (-vault-addr flag or VAULT_ADDR)"
	}
	switch {
	case c.Address == "":
		probs.add("no Vault address: set %s in the SecretProviderClass, or the provider's -vault-addr flag or VAULT_ADDR", KeyVaultAddress)
	default:
		if err := vault.CheckAddress(c.Address); err != nil {
			probs.add("%s %s %v", source, Quote(c.Address), err)
		}
	}
	return c
}

// authMount picks the auth mount (vaultAuthMountPath, its older alias
// vaultKubernetesMountPath, or the default) and cleans it, so that
// "auth/jwt/" and "jwt" both log in at auth/jwt/login.
func authMount(attrs map[string]string, def string, probs *problems) string {
	src, raw := KeyAuthMount, attrs[KeyAuthMount]
	switch old := attrs[KeyKubernetesMount]; {
	case raw != "" && old != "":
		probs.add("both %s and %s are set: keep only %s (%s is its older name)",
			KeyAuthMount, KeyKubernetesMount, KeyAuthMount, KeyKubernetesMount)
		return ""
	case old != "":
		src, raw = KeyKubernetesMount, old
	case raw == "":
		src, raw = defaultAuthMountSrc, def
	}
	if raw == "" {
		return defaultAuthMount
	}
	m, err := cleanAuthMount(raw)
	if err != nil {
		probs.add("%s %s %v", src, Quote(raw), err)
	}
	return m
}

func cleanAuthMount(raw string) (string, error) {
	m := strings.TrimPrefix(strings.TrimLeft(raw, "/"), "auth/")
	m = strings.Trim(m, "/")
	if m == "" {
		return "", fmt.Errorf("names no auth mount: %s", authMountPathHint)
	}
	if strings.ContainsAny(m, "?#") {
		return "", fmt.Errorf("must not contain \"?\" or \"#\": %s", authMountPathHint)
	}
	for _, el := range strings.Split(m, "/") {
		if el == "" || el == "." || el == ".." {
			return "", fmt.Errorf("has an empty, \".\" or \"..\" element: %s", authMountPathHint)
		}
	}
	return m, nil
}

// podInfo reads the pod keys the driver adds when the CSIDriver object has
// podInfoOnMount: true; without them there is no identity to log in with.
func podInfo(attrs map[string]string, probs *problems) auth.Pod {
	pod := auth.Pod{
		Name:           attrs[KeyPodName],
		Namespace:      attrs[KeyPodNamespace],
		UID:            attrs[KeyPodUID],
		ServiceAccount: attrs[KeyServiceAccount],
	}
	var missing []string
	for _, kv := range [][2]string{
		{KeyPodName, pod.Name},
		{KeyPodNamespace, pod.Namespace},
		{KeyPodUID, pod.UID},
		{KeyServiceAccount, pod.ServiceAccount},
	} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		probs.add("the driver did not send %s: %s", strings.Join(missing, ", "), podInfoOnMountHint)
	}
	return pod
}
