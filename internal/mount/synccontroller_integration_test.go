package mount_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// The Secrets Store sync controller's own pod: the name and UID it sends
// for the SecretSyncs of every namespace.
const (
	controllerPod = "secrets-store-sync-controller-manager-0"
	controllerUID = "5c0e5a1e-0000-4000-8000-0000000000c0"
)

// tenant is a SecretSync's namespace and service account.
type tenant struct{ namespace, serviceAccount string }

// Three tenants of one role and one class: two namespaces with a service
// account of the same name, and another service account of the first.
var syncTenants = []tenant{{"shop", "web"}, {"billing", "web"}, {"shop", "reports"}}

// The class every tenant syncs: a KV secret (the same content for all), a
// certificate issued without a lease, one with a lease.
const syncObjects = `
- {objectName: password, secretPath: secret/data/app, secretKey: password}
- {objectName: tls.crt, secretPath: pki/issue/web, method: PUT, secretArgs: {common_name: sync.example.test, ttl: 30m}, secretKey: certificate}
- {objectName: leased.crt, secretPath: pki/issue/leased, method: PUT, secretArgs: {common_name: sync.example.test, ttl: 30m}, secretKey: certificate}`

// syncHarness serves with kept responses for staleIfError and gives Vault
// the role "tenants", which every tenant (and only they) may log in as,
// a leased PKI role, and the KV secret.
func syncHarness(t *testing.T) *harness {
	t.Helper()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	v := vaulttest.StartT(t)
	h := serve(t, v, setupVault(t, v), keys, nil, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{},
		func(o *mount.Options) { o.Stale, o.MaxStaleIfError = stale.New(0), time.Hour })
	must(t, v.WritePolicy(context.Background(), "leased", `path "pki/issue/leased" { capabilities = ["create", "update"] }`))
	write(t, v, "pki/roles/leased", map[string]any{"allowed_domains": "example.test", "allow_subdomains": true,
		"max_ttl": "1h", "generate_lease": true, "key_type": "ec"})
	var subjects []string
	for _, tn := range syncTenants {
		subjects = append(subjects, "system:serviceaccount:"+tn.namespace+":"+tn.serviceAccount)
	}
	write(t, v, "auth/jwt/role/tenants", map[string]any{"role_type": "jwt", "bound_audiences": []string{"vault"},
		"user_claim": "sub", "bound_claims": map[string]any{"sub": subjects}, "token_policies": []string{"web", "leased"},
		"token_ttl": "1h"})
	write(t, v, "secret/data/app", map[string]any{"data": map[string]any{"password": "same-for-all-s3cret"}})
	return h
}

// syncMount makes the controller's Mount for a SecretSync of tn, with a
// token of tn's service account bound to no pod, as the controller's
// TokenRequest gives.
func (h *harness) syncMount(t *testing.T, tn tenant, params map[string]string) (*pb.MountResponse, error) {
	t.Helper()
	tok, err := h.issuer.ServiceAccountToken(tn.namespace, tn.serviceAccount, "", "", "vault", 10*time.Minute)
	must(t, err)
	attrs := map[string]string{spc.KeyRoleName: "tenants", spc.KeyObjects: syncObjects}
	for k, v := range params {
		attrs[k] = v
	}
	req, err := csitest.SyncRequest{ControllerPodName: controllerPod, ControllerPodUID: controllerUID,
		Namespace: tn.namespace, ServiceAccount: tn.serviceAccount, Params: attrs,
		Tokens: map[string]csitest.Token{"vault": {Token: tok, Expiration: time.Now().Add(10 * time.Minute)}}}.Build()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.client.Mount(ctx, req)
}

// synced is what one tenant's Mount gave: each certificate's serial and
// each object's version.
type synced struct {
	serials  map[string]string
	versions map[string]string
}

func (h *harness) synced(t *testing.T, tn tenant) synced {
	t.Helper()
	resp, err := h.syncMount(t, tn, nil)
	if err != nil {
		t.Fatalf("%v: %v", tn, err)
	}
	f := files(resp)
	if f["password"].Content != "same-for-all-s3cret" {
		t.Fatalf("%v: password file %q", tn, f["password"].Content)
	}
	s := synced{serials: map[string]string{}, versions: map[string]string{}}
	for _, name := range []string{"tls.crt", "leased.crt"} {
		s.serials[name] = parseCert(t, f[name].Content).SerialNumber.String()
	}
	for _, v := range resp.GetObjectVersion() {
		s.versions[v.Id] = v.Version
	}
	return s
}

// TestSyncControllerTenantsShareNothing: SecretSyncs of two namespaces, and
// of two service accounts of one namespace, come through the controller
// with its one pod name and UID, the same role and the same class. Against
// the real Vault, key by key: each logs in once with its own token, gets
// its own certificate kept for it, its own lease, its own versions of the
// same content; a second round gives each its own back and asks Vault for
// nothing new.
func TestSyncControllerTenantsShareNothing(t *testing.T) {
	h := syncHarness(t)
	first := map[tenant]synced{}
	for _, tn := range syncTenants {
		first[tn] = h.synced(t, tn)
	}
	if n := testutil.ToFloat64(h.metrics.Logins.WithLabelValues("ok")); n != 3 {
		t.Errorf("%v Vault logins for 3 tenants, want one each", n)
	}
	if n := testutil.ToFloat64(h.metrics.TokenCacheSize); n != 3 {
		t.Errorf("%v Vault tokens cached, want one per tenant", n)
	}
	for _, what := range []struct {
		name string
		of   func(synced) string
	}{
		{"certificate without a lease (serial)", func(s synced) string { return s.serials["tls.crt"] }},
		{"leased certificate (serial)", func(s synced) string { return s.serials["leased.crt"] }},
		{"version of the same password", func(s synced) string { return s.versions["password"] }},
		{"version of the certificate", func(s synced) string { return s.versions["tls.crt"] }},
	} {
		seen := map[string]tenant{}
		for tn, s := range first {
			if other, ok := seen[what.of(s)]; ok {
				t.Errorf("%s: %v and %v share it", what.name, tn, other)
			}
			seen[what.of(s)] = tn
		}
	}
	if n := h.liveLeases(t, "pki/issue/leased/"); n != 3 {
		t.Errorf("Vault holds %d leases, want one per tenant", n)
	}
	issued := issuedCertificates(t, h.vault)

	for _, tn := range syncTenants {
		if d := cmp.Diff(first[tn], h.synced(t, tn), cmp.AllowUnexported(synced{})); d != "" {
			t.Errorf("%v: a second sync differs (-first +second):\n%s", tn, d)
		}
	}
	if n := testutil.ToFloat64(h.metrics.Logins.WithLabelValues("ok")); n != 3 {
		t.Errorf("%v Vault logins after a second round, want still 3", n)
	}
	if n := issuedCertificates(t, h.vault) - issued; n != 0 {
		t.Errorf("Vault issued %d certificates on the second round, want none", n)
	}
	if n := h.liveLeases(t, "pki/issue/leased/"); n != 3 {
		t.Errorf("Vault holds %d leases after a second round, want 3", n)
	}
}

// TestSyncControllerStaleIsPerTenant: while Vault is down, a tenant that
// synced gets its last good answer back (staleIfError); a tenant of
// another namespace or service account, through the same controller pod
// with the same class, does not get it.
func TestSyncControllerStaleIsPerTenant(t *testing.T) {
	h := syncHarness(t)
	params := map[string]string{spc.KeyObjects: `[{objectName: password, secretPath: secret/data/app, secretKey: password}]`,
		spc.KeyStaleIfError: "10m"}
	good, err := h.syncMount(t, syncTenants[0], params)
	must(t, err)
	must(t, h.vault.Stop())

	got, err := h.syncMount(t, syncTenants[0], params)
	if err != nil {
		t.Fatalf("%v, which synced, while Vault is down: %v", syncTenants[0], err)
	}
	if d := cmp.Diff(good, got, protocmp.Transform()); d != "" {
		t.Errorf("stale answer differs from the last good one (-want +got):\n%s", d)
	}
	for _, tn := range syncTenants[1:] {
		if _, err := h.syncMount(t, tn, params); status.Code(err) != codes.Unavailable {
			t.Errorf("%v, which never synced, while Vault is down: %v, want Unavailable", tn, err)
		}
	}
}
