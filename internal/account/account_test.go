package account

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account/accounttest"
)

func TestChargeAndWork(t *testing.T) {
	a := New(context.Background(), Limits{Bytes: 100, Work: 10})
	if err := a.Charge(60, "first"); err != nil {
		t.Fatal(err)
	}
	err := a.Charge(41, "second")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrExhausted) || e.Flag != FlagMountMemory {
		t.Fatalf("charge past the cap: %v", err)
	}
	if !strings.Contains(err.Error(), "second") || !strings.Contains(err.Error(), FlagMountMemory) {
		t.Errorf("message %q names neither what nor the flag", err)
	}
	// A refused charge is not counted.
	if err := a.Charge(40, "third"); err != nil {
		t.Fatalf("room left after a refusal: %v", err)
	}
	if err := a.Work(10, "w"); err != nil {
		t.Fatal(err)
	}
	if err := a.Work(1, "w"); !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), FlagMountWork) {
		t.Fatalf("work past the cap: %v", err)
	}
	// Spent work stays spent, even for a zero charge.
	if err := a.Work(0, "w"); err != nil {
		t.Fatalf("a zero charge only checks the context: %v", err)
	}
	var nilAcct *Account
	if nilAcct.Charge(1<<40, "x") != nil || nilAcct.Work(1<<40, "x") != nil {
		t.Error("a nil account charges nothing")
	}
}

func TestWorkChecksTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a := New(ctx, Limits{})
	cancel()
	if err := a.Work(1, "eval"); !errors.Is(err, context.Canceled) {
		t.Fatalf("work after cancel: %v", err)
	}
}

func TestPoolAdmitsWithinItsBytes(t *testing.T) {
	p := NewPool(PoolLimits{Bytes: 4 << 20, Share: 2 << 20, Base: 1 << 20})
	ctx := context.Background()
	lim := Limits{Bytes: 3 << 20}
	a1, err := p.Open(ctx, "a", lim)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := p.Open(ctx, "a", lim)
	if err != nil {
		t.Fatal(err)
	}
	// Namespace a's share is full: a third waits, and another namespace is
	// admitted past it.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Open(short, "a", lim); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third account of a full share: %v", err)
	}
	b1, err := p.Open(ctx, "b", lim)
	if err != nil {
		t.Fatal(err)
	}
	// Growing past the share fails at once, naming the node's flag.
	if err := a1.Charge(2<<20, "big"); !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), FlagNodeMemory) {
		t.Fatalf("growth past the share: %v", err)
	}
	// b grows into the node's last MiB.
	if err := b1.Charge(2<<20, "b grows"); err != nil {
		t.Fatal(err)
	}
	if got := p.Used(); got != 4<<20 {
		t.Fatalf("pool used %d, want all of it", got)
	}
	// A waiter is admitted when room comes back.
	got := make(chan error, 1)
	go func() {
		a3, err := p.Open(ctx, "a", lim)
		if err == nil {
			a3.Close()
		}
		got <- err
	}()
	a1.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	a2.Close()
	b1.Close()
	b1.Close() // twice is harmless
	if p.Used() != 0 || len(p.tenants) != 0 {
		t.Fatalf("after every Close: used %d, tenants %v", p.Used(), p.tenants)
	}
}

// decodeAllocs is what decoding raw as the vault package does allocates.
func decodeAllocs(raw []byte) int64 {
	var v any
	got := accounttest.Allocated(func() {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
	})
	runtime.KeepAlive(v)
	return got
}

func TestJSONBytesCoversDecoding(t *testing.T) {
	rep := func(elem string, n int) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]")
	}
	var keys strings.Builder
	keys.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			keys.WriteString(",")
		}
		keys.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `` + json.Number(strings.Repeat("1", 1+i%5)).String() + `":1`)
	}
	keys.WriteString("}")
	cases := map[string][]byte{
		"empty maps":     rep("{}", 100000),
		"empty lists":    rep("[]", 100000),
		"small maps":     rep(`{"a":1,"b":"x"}`, 20000),
		"empty strings":  rep(`""`, 100000),
		"numbers":        rep("1", 100000),
		"escapes":        rep(`"\n\n\n\n"`, 20000),
		"nested":         []byte(strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)),
		"many keys":      []byte(keys.String()),
		"one big string": []byte(`{"data":{"v":"` + strings.Repeat("x", 1<<20) + `"}}`),
		"literals":       rep("true", 50000),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			got, est := decodeAllocs(raw), JSONBytes(raw)+DecoderCopy(len(raw))
			t.Logf("%d bytes of JSON: decoding allocated %d, estimate %d (%.2fx)", len(raw), got, est, float64(est)/float64(got))
			if est < got {
				t.Errorf("estimate %d below the %d bytes decoding allocated", est, got)
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			// The walk of the decoded value counts what it holds.
			if held := ValueBytes(v); held > est {
				t.Errorf("ValueBytes %d above the estimate %d", held, est)
			}
		})
	}
}

// TestPoolShare: a tenant's share is a quarter of the node unless one
// account's cap is more, and never more than the node.
func TestPoolShare(t *testing.T) {
	for _, tc := range []struct {
		lim  PoolLimits
		want int64
	}{
		{PoolLimits{Bytes: 64 << 20, Account: 16 << 20}, 16 << 20},
		{PoolLimits{Bytes: 64 << 20, Account: 4 << 20}, 16 << 20},
		{PoolLimits{Bytes: 64 << 20, Account: 32 << 20}, 32 << 20},
		{PoolLimits{Bytes: 16 << 20, Account: 32 << 20}, 16 << 20},
		{PoolLimits{Bytes: 64 << 20, Share: 8 << 20, Account: 32 << 20}, 8 << 20},
	} {
		if got := NewPool(tc.lim).Limits().Share; got != tc.want {
			t.Errorf("NewPool(%+v) share %d, want %d", tc.lim, got, tc.want)
		}
	}
}
