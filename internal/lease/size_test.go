package lease

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// heapAlloc is the live heap after two collections (the second frees
// what sync.Pools let go of in the first).
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestEntryBytesBoundsTheHeap decodes Vault responses of many shapes as
// the provider does and keeps them in a cache: the bytes the cache counts
// must be at least what the heap grew by, so its bounds bound memory, and
// not far more, so they do not keep needlessly little.
func TestEntryBytesBoundsTheHeap(t *testing.T) {
	flat := func(n, valueLen int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m[fmt.Sprintf("key%05d", i)] = strings.Repeat("v", valueLen)
		}
		return m
	}
	list := func(n, valueLen int) []any {
		var l []any
		for range n {
			l = append(l, strings.Repeat("c", valueLen))
		}
		return l
	}
	tests := []struct {
		name string
		data any
	}{
		{"database credentials", map[string]any{"username": "v-kubernetes-web-AbCdEfGhIjKlMnOp-1714568400", "password": "A1b2-C3d4E5f6G7h8I9j0"}},
		{"a leased certificate", map[string]any{
			"certificate": strings.Repeat("M", 900), "issuing_ca": strings.Repeat("M", 1200), "ca_chain": list(2, 1200),
			"private_key": strings.Repeat("M", 240), "private_key_type": "ec", "serial_number": strings.Repeat("0a:", 20), "expiration": 1714568400,
		}},
		{"nine keys, past a map's first group", flat(9, 20)},
		{"449 keys, just past a table's doubling", flat(449, 20)},
		{"1000 empty values", flat(1000, 0)},
		{"values of 4097 bytes, the worst size class", flat(8, 4097)},
		{"one value just over 256 KiB, in whole pages", flat(1, 256<<10+1)},
		{"a list of 300 strings", map[string]any{"list": list(300, 20)}},
		{"numbers, booleans and nulls", map[string]any{"n": 12345, "f": 1.5, "b": true, "z": nil, "l": []any{1, false, nil}}},
		{"KV v2 nesting", map[string]any{
			"data":     map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}}, "e": []any{map[string]any{"f": "g"}}},
			"metadata": map[string]any{"created_time": "2024-05-01T12:00:00.123456789Z", "version": 3, "destroyed": false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{
				"request_id": "0f4e3a2b-1111-2222-3333-444455556666", "lease_id": "database/creds/web/AbCdEfGhIjKlMnOpQrStUvWx",
				"lease_duration": 3600, "renewable": true, "data": tt.data, "warnings": []string{"a warning"},
			})
			if err != nil {
				t.Fatal(err)
			}
			put := func(c *Cache, i int) {
				s, err := api.ParseSecret(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				k := Key{PodUID: fmt.Sprintf("9b7f0c1e-1111-4000-8000-%012d", i%50), Identity: Identity{Role: "web", AuthMount: "kubernetes", Audience: "vault",
					Vault: vault.Config{Address: "https://vault.vault.svc:8200"}, Request: fmt.Sprintf("GET database/creds/web-%06d", i)}}
				c.Put(k, s, "hvs.CAESIJ"+strings.Repeat("x", 86), time.Now().Add(time.Hour))
			}
			c := New(Options{MaxBytesPerPod: 1 << 40, MaxBytes: 1 << 40})
			// The first entry also makes what the cache makes once (its
			// metrics' counters): measured from the second.
			put(c, -1)
			base := c.bytes
			// Enough entries for a few MiB, so that the heap's noise is small.
			n := max(16, (2<<20)/len(body))
			before := heapAlloc()
			for i := range n {
				put(c, i)
			}
			grew := heapAlloc() - before
			runtime.KeepAlive(body)
			runtime.KeepAlive(c)
			counted := uint64(c.bytes - base)
			t.Logf("%d entries: the heap grew by %d bytes, %d counted (%.2fx)", n, grew, counted, float64(counted)/float64(grew))
			if counted < grew {
				t.Errorf("counted %d bytes for %d entries, but the heap grew by %d: the estimate is optimistic", counted, n, grew)
			}
			if counted > 3*grew {
				t.Errorf("counted %d bytes for %d entries, more than 3 times the %d the heap grew by", counted, n, grew)
			}
		})
	}
}
