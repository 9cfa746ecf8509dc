// Package state keeps what the provider holds for reuse on the node (Vault
// tokens, kept leases and certificates, the last good responses for
// staleIfError, and the pods they belong to) in a file that survives a
// restart of the provider, so a restart mints nothing new in Vault and
// still revokes what the pods deleted meanwhile held.
//
// The file is sealed with AES-256-GCM under a key kept only in the
// cluster (a Secret beside the HMAC key): a copy of the node's disk is
// useless without access to the API server. It is written by a background
// writer (Writer), never on a mount's path, atomically (a temporary file
// renamed over it) with mode 0600, and bounded in size: what does not fit
// is left out, the least recently used first.
package state

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// KeySize is the size of the key the file is sealed with (AES-256).
const KeySize = 32

// magic starts every state file and is authenticated with it: a file of
// another format, or another version of this one, does not open.
var magic = []byte("vault-csi-provider state v1\n")

// ErrUnreadable is a file that cannot be opened with the key: damaged,
// truncated, of another format, or sealed with another key.
var ErrUnreadable = errors.New("state file unreadable")

// Snapshot is what the file holds.
type Snapshot struct {
	Written time.Time
	Tokens  []auth.Saved
	Leases  []lease.Saved
	Stale   []stale.Saved
}

// Len is the number of entries.
func (s *Snapshot) Len() int { return len(s.Tokens) + len(s.Leases) + len(s.Stale) }

// PodUIDs lists the pods the snapshot holds anything for.
func (s *Snapshot) PodUIDs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(uid string) {
		if uid != "" && !seen[uid] {
			seen[uid] = true
			out = append(out, uid)
		}
	}
	for _, t := range s.Tokens {
		add(t.Pod.UID)
	}
	for _, l := range s.Leases {
		add(l.Key.PodUID)
	}
	return out
}

// wireLease and wireStale carry a secret as the JSON Vault sent, decoded
// again as the Vault client decodes it.
type wireLease struct {
	lease.Saved
	Secret json.RawMessage
}

type wireStale struct {
	Key      stale.Key
	Secret   json.RawMessage `json:",omitempty"`
	Obtained time.Time
	Ends     time.Time
	Pod      string
	Used     time.Time
}

// file is the sealed document.
type file struct {
	Written time.Time
	Tokens  []json.RawMessage
	Leases  []json.RawMessage
	Stale   []json.RawMessage
}

// entry is one entry of a snapshot on its way into the file.
type entry struct {
	kind int // 0 token, 1 lease, 2 stale
	i    int // its index in its list
	used time.Time
}

// Encode seals s with key into at most max bytes, leaving out the least
// recently used entries that do not fit; it returns the file and how many
// entries it left out. The entries are encoded one at a time, the most
// recently used first, so it holds a few times -max-state-bytes at most,
// whatever the caches hold.
func Encode(s *Snapshot, key []byte, max int) ([]byte, int, error) {
	var order []entry
	for i, t := range s.Tokens {
		order = append(order, entry{0, i, t.Used})
	}
	for i, l := range s.Leases {
		order = append(order, entry{1, i, l.Used})
	}
	for i, st := range s.Stale {
		order = append(order, entry{2, i, st.Used})
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].used.After(order[j].used) })
	// The seal, the nonce and the document's own punctuation.
	room := max - len(magic) - 12 - 16 - 256
	f := file{Written: s.Written}
	left := 0
	for _, e := range order {
		raw, err := s.encode(e)
		if err != nil {
			return nil, 0, err
		}
		if len(raw)+1 > room {
			left++
			continue
		}
		room -= len(raw) + 1
		switch e.kind {
		case 0:
			f.Tokens = append(f.Tokens, raw)
		case 1:
			f.Leases = append(f.Leases, raw)
		default:
			f.Stale = append(f.Stale, raw)
		}
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding the state: %w", err)
	}
	sealed, err := seal(key, plain)
	return sealed, left, err
}

// encode is one entry's JSON, its secret as Vault's JSON.
func (s *Snapshot) encode(e entry) (json.RawMessage, error) {
	switch e.kind {
	case 0:
		raw, err := json.Marshal(s.Tokens[e.i])
		if err != nil {
			return nil, fmt.Errorf("encoding a token: %w", err)
		}
		return raw, nil
	case 1:
		l := s.Leases[e.i]
		sec, err := json.Marshal(l.Secret)
		if err != nil {
			return nil, fmt.Errorf("encoding a kept lease: %w", err)
		}
		raw, err := json.Marshal(wireLease{Saved: l, Secret: sec})
		if err != nil {
			return nil, fmt.Errorf("encoding a kept lease: %w", err)
		}
		return raw, nil
	}
	st := s.Stale[e.i]
	w := wireStale{Key: st.Key, Obtained: st.Response.Obtained, Ends: st.Response.Ends, Pod: st.Response.Pod, Used: st.Used}
	if st.Response.Secret != nil {
		sec, err := json.Marshal(st.Response.Secret)
		if err != nil {
			return nil, fmt.Errorf("encoding a stale response: %w", err)
		}
		w.Secret = sec
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding a stale response: %w", err)
	}
	return raw, nil
}

// Decode opens a file sealed by Encode; entries that do not decode are
// left out, the file's others kept.
func Decode(b, key []byte) (*Snapshot, error) {
	plain, err := open(key, b)
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("%w: sealed content is not a state document", ErrUnreadable)
	}
	s := &Snapshot{Written: f.Written}
	for _, raw := range f.Tokens {
		var t auth.Saved
		if json.Unmarshal(raw, &t) == nil {
			s.Tokens = append(s.Tokens, t)
		}
	}
	for _, raw := range f.Leases {
		var w wireLease
		if json.Unmarshal(raw, &w) != nil {
			continue
		}
		sec, err := decodeSecret(w.Secret)
		if err != nil || sec == nil {
			continue
		}
		w.Saved.Secret = sec
		s.Leases = append(s.Leases, w.Saved)
	}
	for _, raw := range f.Stale {
		var w wireStale
		if json.Unmarshal(raw, &w) != nil {
			continue
		}
		var sec *api.Secret
		if len(w.Secret) > 0 {
			if sec, err = decodeSecret(w.Secret); err != nil {
				continue
			}
		}
		s.Stale = append(s.Stale, stale.Saved{Key: w.Key, Used: w.Used,
			Response: stale.Response{Secret: sec, Obtained: w.Obtained, Ends: w.Ends, Pod: w.Pod}})
	}
	return s, nil
}

// decodeSecret reads back a secret as the Vault client decoded it, so a
// kept response renders, and versions, as it did before the restart.
func decodeSecret(raw json.RawMessage) (*api.Secret, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	return vault.DecodeSecret(raw)
}

func seal(key, plain []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("state file nonce: %w", err)
	}
	out := append(bytes.Clone(magic), nonce...)
	return aead.Seal(out, nonce, plain, magic), nil
}

func open(key, b []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, magic) {
		return nil, fmt.Errorf("%w: not a state file of this version", ErrUnreadable)
	}
	b = b[len(magic):]
	if len(b) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: truncated", ErrUnreadable)
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], magic)
	if err != nil {
		return nil, fmt.Errorf("%w: damaged, or sealed with another key", ErrUnreadable)
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("state key of %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("state key: %w", err)
	}
	return cipher.NewGCM(block)
}

// Load reads and opens the file at path; a missing file is an empty
// snapshot.
func Load(path string, key []byte) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Snapshot{}, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return Decode(b, key)
}

// WriteFile replaces the file at path with b: written to a temporary file
// of mode 0600 in the same directory, synced, then renamed over it, so a
// reader (or a restart after SIGKILL) sees the old file or the new one.
func WriteFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
