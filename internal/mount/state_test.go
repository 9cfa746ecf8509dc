package mount_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// provider is one run of the provider against v: a harness whose caches
// the test can save and restore.
type provider struct {
	*harness
	src state.Sources
}

// startProvider serves v with fresh caches, restored from the state file
// at path if it exists.
func startProvider(t *testing.T, v *vaulttest.Server, issuer *vaulttest.JWTIssuer, keys mount.KeySource, path string, key []byte) *provider {
	t.Helper()
	p := &provider{}
	h := serve(t, v, issuer, keys, nil, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{}, func(o *mount.Options) {
		authn, err := auth.NewAuthenticator(100, nil, o.Metrics)
		if err != nil {
			t.Fatal(err)
		}
		o.Auth, o.Leases = authn, lease.New(lease.Options{Metrics: o.Metrics})
		o.Stale, o.MaxStaleIfError = stale.New(0), time.Hour
		p.src = state.Sources{Auth: o.Auth, Leases: o.Leases, Stale: o.Stale}
		snap, err := state.Load(path, key)
		if err != nil {
			t.Fatal(err)
		}
		p.src.Restore(snap)
	})
	p.harness = h
	return p
}

func (p *provider) save(t *testing.T, path string, key []byte) {
	t.Helper()
	w := &state.Writer{Path: path, Key: key, Max: 1 << 20, Sources: p.src, Metrics: p.metrics, Logger: slog.New(slog.DiscardHandler)}
	if err := w.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsLeases: a provider that restarts with its state file
// hands the pod the same leased certificate and the same database
// credentials, with no new login and no new lease in Vault; one whose
// lease ended while it was down is not handed out.
func TestRestartKeepsLeases(t *testing.T) {
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	v := vaulttest.StartT(t)
	issuer := setupVault(t, v)
	write(t, v, "secret/data/app", map[string]any{"data": map[string]any{"user": "alice-s3cret"}})
	must(t, v.WritePolicy(t.Context(), "web", `
path "secret/data/*" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`))
	write(t, v, "pki/roles/web", map[string]any{
		"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h", "generate_lease": true, "key_type": "ec",
	})
	path := filepath.Join(t.TempDir(), "vault.state")
	key := make([]byte, state.KeySize)
	copy(key, "a key of 32 bytes for the tests!")
	long := map[string]string{"objects": leasedObjects + `
- objectName: user
  secretPath: secret/data/app
  secretKey: user`, "staleIfError": "1h"}
	short := map[string]string{"objects": strings.ReplaceAll(leasedObjects, "ttl: 30m", "ttl: 2s"),
		spc.KeyPodUID: "9b7f0c1e-1111-4000-8000-000000000003"}

	first := startProvider(t, v, issuer, keys, path, key)
	before := first.certificate(t, long)
	shortBefore := first.certificate(t, short)
	first.save(t, path, key)
	leases := first.liveLeases(t, "pki/issue/web/")

	time.Sleep(2100 * time.Millisecond) // the short lease ends while no provider runs
	again := startProvider(t, v, issuer, keys, path, key)
	if after := again.certificate(t, long); after != before {
		t.Error("the restarted provider issued a new certificate for a lease it had kept")
	}
	if got := testutil.ToFloat64(again.metrics.Logins.WithLabelValues("ok")); got != 0 {
		t.Errorf("%v logins after the restart, want 0: both pods' tokens were kept", got)
	}
	if shortAfter := again.certificate(t, short); shortAfter == shortBefore {
		t.Error("the restarted provider handed out a certificate whose lease ended while it was down")
	}
	if n := testutil.ToFloat64(again.metrics.Leases.WithLabelValues("created")); n != 1 {
		t.Errorf("%v new leases after the restart, want 1: for the lease that ended", n)
	}
	if n := again.liveLeases(t, "pki/issue/web/"); n != leases {
		t.Errorf("Vault holds %d leases, want %d: the kept one, and the new one in place of the ended one", n, leases)
	}

	// The last good responses came back too: with Vault down, a new pod
	// of the identity is answered.
	must(t, v.Stop())
	resp, err := again.mount(t, map[string]string{"objects": "- objectName: user\n  secretPath: secret/data/app\n  secretKey: user",
		"staleIfError": "1h", spc.KeyPodUID: "9b7f0c1e-1111-4000-8000-000000000004"})
	if err != nil {
		t.Fatalf("a known identity while Vault is down, after a restart: %v", err)
	}
	if got := files(resp)["user"].Content; got != "alice-s3cret" {
		t.Errorf("stale answer %q", got)
	}

	// Another key cannot read the file.
	other := make([]byte, state.KeySize)
	if _, err := state.Load(path, other); err == nil {
		t.Error("the state file opened with another key")
	}
}
