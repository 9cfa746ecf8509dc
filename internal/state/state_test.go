package state_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, state.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// secret decodes body as the Vault client does.
func secret(t *testing.T, body string) *api.Secret {
	t.Helper()
	s, err := vault.DecodeSecret([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	tokenValue  = "hvs.CAESIsecret-token-value"
	secretValue = "db-password-s3cret"
)

func snapshot(t *testing.T) *state.Snapshot {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	cfg := vault.Config{Address: "https://vault.example:8200", Namespace: "team-a"}
	pod := auth.Pod{Name: "web-1", Namespace: "shop", UID: "uid-1", ServiceAccount: "web"}
	leased := secret(t, `{"lease_id":"database/creds/web/abc","lease_duration":3600,"renewable":true,`+
		`"data":{"username":"v-web","password":"`+secretValue+`","n":12.50}}`)
	return &state.Snapshot{
		Written: now,
		Tokens: []auth.Saved{{Pod: pod, Role: "web", AuthMount: "kubernetes", Audience: "vault", Vault: cfg, Token: tokenValue,
			RefreshAt: now.Add(time.Hour), Expires: now.Add(90 * time.Minute), Used: now}},
		Leases: []lease.Saved{{Key: lease.Key{PodUID: pod.UID, Identity: lease.Identity{Role: "web", AuthMount: "kubernetes", Audience: "vault", Vault: cfg,
			Request: "GET database/creds/web"}}, Secret: leased, Token: tokenValue, Obtained: now, ValidUntil: now.Add(time.Hour),
			Renewable: true, TokenEnd: now.Add(90 * time.Minute), Validity: time.Hour, Used: now.Add(-time.Second)}},
		Stale: []stale.Saved{
			{Key: stale.Key{Namespace: "shop", ServiceAccount: "web", Role: "web", AuthMount: "kubernetes", Audience: "vault", Vault: cfg,
				Request: "GET secret/data/app"}, Response: stale.Response{Secret: secret(t, `{"data":{"data":{"user":"alice"}}}`),
				Obtained: now}, Used: now.Add(-2 * time.Second)},
			{Key: stale.Key{Namespace: "shop", Request: "GET secret/data/absent"}, Response: stale.Response{Obtained: now},
				Used: now.Add(-3 * time.Second)},
		},
	}
}

func TestEncodeDecode(t *testing.T) {
	key := newKey(t)
	want := snapshot(t)
	b, left, err := state.Encode(want, key, 1<<20)
	if err != nil || left != 0 {
		t.Fatalf("Encode: %d left out, %v", left, err)
	}
	for _, plain := range []string{tokenValue, secretValue, "shop", "database/creds"} {
		if bytes.Contains(b, []byte(plain)) {
			t.Errorf("the sealed file shows %q", plain)
		}
	}
	got, err := state.Decode(b, key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

// TestDecodeRefuses: a file sealed with another key, damaged or truncated
// is refused whole, as ErrUnreadable.
func TestDecodeRefuses(t *testing.T) {
	key := newKey(t)
	b, _, err := state.Encode(snapshot(t), key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name string
		file []byte
		key  []byte
	}{
		{"another key", b, newKey(t)},
		{"a flipped bit", flipped, key},
		{"truncated", b[:len(b)-20], key},
		{"the header only", b[:30], key},
		{"not a state file", []byte("{}"), key},
		{"empty", nil, key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := state.Decode(tt.file, tt.key)
			if !errors.Is(err, state.ErrUnreadable) {
				t.Fatalf("Decode: %v, want ErrUnreadable", err)
			}
			for _, plain := range []string{tokenValue, secretValue} {
				if bytes.Contains([]byte(err.Error()), []byte(plain)) {
					t.Errorf("error shows %q", plain)
				}
			}
		})
	}
}

// TestEncodeBound: entries that do not fit are left out, the least
// recently used first.
func TestEncodeBound(t *testing.T) {
	key := newKey(t)
	full, _, err := state.Encode(snapshot(t), key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Room for all but the smallest, least recently used entries.
	b, left, err := state.Encode(snapshot(t), key, len(full)-150)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > len(full)-150 {
		t.Errorf("%d bytes past the bound %d", len(b), len(full)-150)
	}
	got, err := state.Decode(b, key)
	if err != nil {
		t.Fatal(err)
	}
	if left == 0 || got.Len()+left != 4 {
		t.Fatalf("%d kept, %d left out, want 4 in all with some left out", got.Len(), left)
	}
	if len(got.Tokens) != 1 {
		t.Errorf("the most recently used entry, the token, was left out")
	}
}

func TestLoadWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.state")
	key := newKey(t)
	if s, err := state.Load(path, key); err != nil || s.Len() != 0 {
		t.Fatalf("Load of a missing file: %v, %v; want an empty snapshot", s, err)
	}
	b, _, err := state.Encode(snapshot(t), key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.WriteFile(path, b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want the state file alone", len(entries))
	}
	if s, err := state.Load(path, key); err != nil || s.Len() != 4 {
		t.Fatalf("Load: %v entries, %v", s, err)
	}
	if _, err := state.Load(path, newKey(t)); !errors.Is(err, state.ErrUnreadable) {
		t.Errorf("Load with another key: %v, want ErrUnreadable", err)
	}
}
