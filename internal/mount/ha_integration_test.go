package mount_test

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A class that lists two addresses of one Vault: the first one dies after
// the first mount, and the next mounts go to the second with the token the
// first one issued. Tokens belong to the cluster, not to an address.
func TestMountThroughSeveralAddresses(t *testing.T) {
	h := newHarness(t)
	write(t, h.vault, "secret/data/ha", map[string]any{"data": map[string]any{"user": "alice"}})
	target, err := url.Parse(h.vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	// A second address of the same server, which can be made to die.
	alias := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer alias.Close()

	params := map[string]string{
		"vaultAddress": alias.URL + "," + h.vault.Addr,
		"objects":      "- {objectName: user, secretPath: secret/data/ha, secretKey: user}",
	}
	mount := func(step string) {
		t.Helper()
		resp, err := h.mount(t, params)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := files(resp); got["user"].Content != "alice" {
			t.Fatalf("%s: files %v", step, got)
		}
	}
	mount("through the first address")
	alias.Close()
	mount("the first address gone")
	mount("again")

	if got := testutil.ToFloat64(h.metrics.Logins.WithLabelValues("ok")); got != 1 {
		t.Errorf("%g logins, want 1: the token is the cluster's", got)
	}
	if got := testutil.ToFloat64(h.metrics.VaultRetries.WithLabelValues("next_node")); got != 1 {
		t.Errorf("%g tries moved on to the next address, want 1: the next mount starts at the one that answered", got)
	}
}
