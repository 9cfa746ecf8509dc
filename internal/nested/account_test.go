package nested

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
)

// TestSelectChargesTheAccount checks that evaluation spends the mount's
// account: its work (numbers parsed included), what it builds, and its
// context.
func TestSelectChargesTheAccount(t *testing.T) {
	digits := strings.Repeat("7", 1<<20)
	list := make([]any, 10_000)
	for i := range list {
		list[i] = "item"
	}
	data := map[string]any{"n": json.Number(digits), "s": digits, "l": list}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name, expr string
		ctx        context.Context
		lim        account.Limits
		want       error
	}{
		{"to_number charged by length", "to_number(s) == to_number(s) && to_number(s) == to_number(s)", context.Background(),
			account.Limits{Work: 2 << 20}, account.ErrExhausted},
		{"comparing numbers charged by length", "n > n && n > n && n > n", context.Background(),
			account.Limits{Work: 2 << 20}, account.ErrExhausted},
		{"join charged as memory", "join(',', l)", context.Background(), account.Limits{Bytes: 16 << 10}, account.ErrExhausted},
		{"projection charged as memory", "l[*]", context.Background(), account.Limits{Bytes: 16 << 10}, account.ErrExhausted},
		{"the mount's deadline", "sort(l)", cancelled, account.Limits{}, context.Canceled},
		{"within the account", "length(l)", context.Background(), account.Limits{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Select(account.New(tc.ctx, tc.lim), data)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("Select: %v, want %v", err, tc.want)
			}
		})
	}
}
