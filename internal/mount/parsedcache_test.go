package mount

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

func TestParsedCache(t *testing.T) {
	key := func(b byte) attrsKey { return attrsKey{b} }
	small := &spc.Params{RoleName: "small", Plan: &spc.Plan{}, Bytes: 10}
	big := &spc.Params{RoleName: "big", Plan: &spc.Plan{}, Bytes: 100_000}
	smallCost := 10 + parsedEntryBytes
	bigCost := 100_000 + parsedEntryBytes

	tests := []struct {
		name      string
		entries   int
		bytes     int
		ops       func(c *parsedCache)
		wantKeys  []attrsKey
		wantBytes int
	}{
		{
			name: "entries bound", entries: 2, bytes: 1 << 20,
			ops: func(c *parsedCache) {
				c.Add(key(1), small)
				c.Add(key(2), small)
				c.Add(key(3), small)
			},
			wantKeys: []attrsKey{key(2), key(3)}, wantBytes: 2 * smallCost,
		},
		{
			name: "bytes bound evicts the least recently used", entries: 10, bytes: bigCost + 2*smallCost + 5,
			ops: func(c *parsedCache) {
				c.Add(key(1), small)
				c.Add(key(2), small)
				c.Get(key(1))
				c.Add(key(3), small)
				c.Add(key(4), big)
			},
			wantKeys: []attrsKey{key(1), key(3), key(4)}, wantBytes: bigCost + 2*smallCost,
		},
		{
			name: "an entry over the whole limit is not kept", entries: 10, bytes: bigCost - 1,
			ops: func(c *parsedCache) {
				c.Add(key(1), small)
				c.Add(key(2), big)
			},
			wantKeys: []attrsKey{key(1)}, wantBytes: smallCost,
		},
		{
			name: "replacing and removing give the cost back", entries: 10, bytes: 1 << 20,
			ops: func(c *parsedCache) {
				c.Add(key(1), small)
				c.Add(key(1), small)
				c.Add(key(2), small)
				c.Remove(key(2))
			},
			wantKeys: []attrsKey{key(1)}, wantBytes: smallCost,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newParsedCache(tc.entries, tc.bytes)
			if err != nil {
				t.Fatal(err)
			}
			tc.ops(c)
			if diff := cmp.Diff(tc.wantKeys, c.Keys()); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if c.cost != tc.wantBytes {
				t.Errorf("cost %d, want %d", c.cost, tc.wantBytes)
			}
		})
	}
}
