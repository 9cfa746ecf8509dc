package stale

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

func key(request string) Key {
	return Key{Namespace: "shop", ServiceAccount: "web", Role: "web", AuthMount: "kubernetes", Audience: "vault",
		Vault: vault.Config{Address: "https://vault:8200"}, Request: request}
}

func TestGet(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	static := &api.Secret{Data: map[string]any{"user": "alice"}}
	leased := &api.Secret{LeaseID: "database/creds/web/1", LeaseDuration: 600, Data: map[string]any{"password": "p"}}
	other := key("GET secret/data/app")
	other.ServiceAccount = "api"
	tests := []struct {
		name   string
		put    Response
		at     time.Duration // after t0
		window time.Duration
		get    Key
		want   bool
	}{
		{"within the window", Response{Secret: static, Obtained: t0}, 9 * time.Minute, 10 * time.Minute, key("GET secret/data/app"), true},
		{"the window passed", Response{Secret: static, Obtained: t0}, 10 * time.Minute, 10 * time.Minute, key("GET secret/data/app"), false},
		{"another service account", Response{Secret: static, Obtained: t0}, time.Minute, time.Hour, other, false},
		{"another request", Response{Secret: static, Obtained: t0}, time.Minute, time.Hour, key("GET secret/data/db"), false},
		{"a lease within its end", Response{Secret: leased, Obtained: t0, Ends: t0.Add(10 * time.Minute)}, 9 * time.Minute, time.Hour,
			key("GET secret/data/app"), true},
		{"a lease past its end", Response{Secret: leased, Obtained: t0, Ends: t0.Add(10 * time.Minute)}, 10 * time.Minute, time.Hour,
			key("GET secret/data/app"), false},
		{"a missing secret, kept as missing", Response{Obtained: t0}, time.Minute, time.Hour, key("GET secret/data/app"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(0)
			c.now = func() time.Time { return t0 }
			k := key("GET secret/data/app")
			c.Put(k, tt.put, Size(k, tt.put.Secret))
			c.now = func() time.Time { return t0.Add(tt.at) }
			got, ok := c.Get(tt.get, tt.window)
			if ok != tt.want {
				t.Fatalf("Get = %v, want %v", ok, tt.want)
			}
			if ok && got.Secret != tt.put.Secret {
				t.Error("Get returned another response")
			}
		})
	}
}

func TestBoundAndForget(t *testing.T) {
	s := &api.Secret{Data: map[string]any{"v": "x"}}
	size := Size(key("a"), s)
	c := New(2 * size)
	now := time.Now()
	c.Put(key("a"), Response{Secret: s, Obtained: now}, size)
	c.Put(key("b"), Response{Secret: s, Obtained: now, Pod: "pod-1"}, size)
	if _, ok := c.Get(key("a"), time.Hour); !ok { // a is now the most recently used
		t.Fatal("a not kept")
	}
	c.Put(key("c"), Response{Secret: s, Obtained: now}, size)
	if _, ok := c.Get(key("b"), time.Hour); ok {
		t.Error("b, the least recently used, was kept past the bound")
	}
	if c.Bytes() > 2*size {
		t.Errorf("%d bytes kept, bound %d", c.Bytes(), 2*size)
	}
	c.Put(key("d"), Response{Secret: s, Obtained: now, Pod: "pod-1"}, size)
	c.ForgetPod("pod-1")
	if _, ok := c.Get(key("d"), time.Hour); ok {
		t.Error("a lease read by a deleted pod was kept")
	}
	if c.Len() != 1 {
		t.Errorf("%d kept, want 1", c.Len())
	}
}

func TestSaveRestore(t *testing.T) {
	t0 := time.Now()
	s := &api.Secret{Data: map[string]any{"v": "x"}}
	c := New(0)
	c.Put(key("static"), Response{Secret: s, Obtained: t0}, Size(key("static"), s))
	c.Put(key("ended"), Response{Secret: s, Obtained: t0, Ends: t0.Add(time.Minute)}, Size(key("ended"), s))
	saved := c.Save()
	d := New(0)
	d.now = func() time.Time { return t0.Add(2 * time.Minute) }
	if n := d.Restore(saved); n != 1 {
		t.Fatalf("restored %d, want 1: the response whose lease ended is left out", n)
	}
	if _, ok := d.Get(key("static"), time.Hour); !ok {
		t.Error("the static response was not restored")
	}
}
