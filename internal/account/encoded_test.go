package account_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/account/accounttest"
)

// TestMarshalBytesCoversMarshal: EncodedBytes is never below the encoding
// json.Marshal writes, whatever it escapes, and MarshalBytes never below
// what Marshal allocates.
func TestMarshalBytesCoversMarshal(t *testing.T) {
	many := map[string]any{}
	for i := range 5000 {
		many[fmt.Sprintf("key-%05d", i)] = strings.Repeat("v", i%64)
	}
	list := make([]any, 20000)
	for i := range list {
		list[i] = map[string]any{"n": json.Number(fmt.Sprint(i)), "s": "x", "b": i%2 == 0, "z": nil}
	}
	cases := map[string]any{
		"html":         strings.Repeat("<&>", 100000),
		"control":      strings.Repeat("\x01\n\t", 100000),
		"quotes":       strings.Repeat(`"\`, 100000),
		"invalid utf8": strings.Repeat("\xff\xfe", 100000),
		"separators":   strings.Repeat("\u2028\u2029", 100000),
		"plain":        map[string]any{"data": map[string]any{"v": strings.Repeat("x", 1<<20)}},
		"many keys":    many,
		"list":         list,
		"literals":     []any{true, false, nil, 1.5, json.Number("12")},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if enc := account.EncodedBytes(v); enc < len(b) {
				t.Errorf("EncodedBytes %d below the encoding's %d bytes", enc, len(b))
			}
			got := accounttest.Allocated(func() { b, _ = json.Marshal(v) })
			est := int64(account.MarshalBytes(v))
			t.Logf("%d bytes encoded: Marshal allocated %d, estimate %d (%.2fx)", len(b), got, est, float64(est)/float64(got))
			if est < got {
				t.Errorf("MarshalBytes %d below the %d bytes Marshal allocated", est, got)
			}
		})
	}
}
