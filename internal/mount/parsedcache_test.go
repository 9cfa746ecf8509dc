package mount

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

func TestParsedCache(t *testing.T) {
	key := func(b byte) attrsKey { return attrsKey{b} }
	small := &spc.Params{RoleName: "small", Plan: &spc.Plan{}}
	// One object whose secretArgs hold 1,000 values.
	list := make([]any, 1000)
	for i := range list {
		list[i] = "x"
	}
	big := &spc.Params{RoleName: "big", Plan: &spc.Plan{Outputs: []*spc.Output{{Object: spc.Object{Args: map[string]any{"l": list}}}}}}
	bigCost := 100 + valueCost + valueCost + valueCost + 1000*valueCost

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
				c.Add(key(1), small, 10)
				c.Add(key(2), small, 10)
				c.Add(key(3), small, 10)
			},
			wantKeys: []attrsKey{key(2), key(3)}, wantBytes: 20,
		},
		{
			name: "bytes bound evicts the least recently used", entries: 10, bytes: bigCost + 25,
			ops: func(c *parsedCache) {
				c.Add(key(1), small, 10)
				c.Add(key(2), small, 10)
				c.Get(key(1))
				c.Add(key(3), small, 10)
				c.Add(key(4), big, 100)
			},
			wantKeys: []attrsKey{key(1), key(3), key(4)}, wantBytes: bigCost + 20,
		},
		{
			name: "an entry over the whole limit is not kept", entries: 10, bytes: bigCost - 1,
			ops: func(c *parsedCache) {
				c.Add(key(1), small, 10)
				c.Add(key(2), big, 100)
			},
			wantKeys: []attrsKey{key(1)}, wantBytes: 10,
		},
		{
			name: "replacing and removing give the cost back", entries: 10, bytes: 1 << 20,
			ops: func(c *parsedCache) {
				c.Add(key(1), small, 10)
				c.Add(key(1), small, 10)
				c.Add(key(2), small, 10)
				c.Remove(key(2))
			},
			wantKeys: []attrsKey{key(1)}, wantBytes: 10,
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
