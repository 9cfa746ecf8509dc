package mount_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc/spctest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

// TestMountLimits drives the limits of each feature through the socket, as
// the driver calls, against the real Vault. The mount's account is made
// large here, so that each feature's own limit answers first with its
// message; TestMountAccount drives the account at its defaults.
func TestMountLimits(t *testing.T) {
	v := vaulttest.StartT(t)
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, v, setupVault(t, v), keys, nil, vault.Config{Address: v.Addr}, lease.Options{},
		spc.Limits{MountMemory: 1 << 30, NodeMemory: 1 << 30})
	big := func(c byte) string { return strings.Repeat(string(c), 2<<20) }
	write(t, h.vault, "secret/data/big", map[string]any{"data": map[string]any{"a": big('a'), "b": big('b'), "small": "s3cret-small"}})
	// Ten distinct 4 MiB secrets: their files are small, but the mount
	// would hold 40 MiB of responses.
	for i := range 10 {
		write(t, h.vault, fmt.Sprintf("secret/data/big%d", i), map[string]any{"data": map[string]any{"a": big('a'), "b": big('b'), "small": "s3cret-small"}})
	}
	tests := []struct {
		name     string
		params   map[string]string
		wantCode codes.Code
		want     []string
		absent   []string
	}{
		{
			name: "files over the mount size",
			params: map[string]string{"objects": "- {objectName: a.bin, secretPath: secret/data/big, secretKey: a}\n" +
				"- {objectName: b.bin, secretPath: secret/data/big, secretKey: b}\n" +
				"- {objectName: small, secretPath: secret/data/big, secretKey: small}"},
			wantCode: codes.ResourceExhausted,
			// Rendering stops at the first file over the limit.
			want: []string{"above the limit of 3670016 bytes (-max-mount-bytes", `largest objects: "a.bin" (2097`, `"b.bin" (2097`},
		},
		{
			// Each copy would be 4 MiB: rendering stops at the first, instead
			// of holding 400 MiB.
			name:     "many copies of a large secret",
			params:   map[string]string{"objects": copies(100, "- {objectName: w%d, secretPath: secret/data/big}\n")},
			wantCode: codes.ResourceExhausted,
			want:     []string{`largest objects: "w0" (4194`, `mount fewer or smaller objects`},
			absent:   []string{`"w1"`, "more"},
		},
		{
			// Read for a template only, they share the secret: nothing is
			// copied, and the template's small file is served.
			name: "many template-only copies of a large secret",
			params: map[string]string{"objects": copies(100, "- {objectName: w%d, secretPath: secret/data/big, templateOnly: true}\n") +
				"- {objectName: small, template: '{{ len .w99.data.data.a }}'}\n"},
			wantCode: codes.OK,
		},
		{
			name:     "responses over their budget",
			params:   map[string]string{"objects": copies(10, "- {objectName: s%[1]d, secretPath: secret/data/big%[1]d, secretKey: small}\n")},
			wantCode: codes.ResourceExhausted,
			want:     []string{"the mount's Vault responses exceed 33554432 bytes (-max-response-bytes)"},
		},
		{
			name:     "attributes over their size",
			params:   map[string]string{"secretProviderClass": strings.Repeat("x", 1<<20)},
			wantCode: codes.InvalidArgument,
			want:     []string{"above the limit of 1048576 bytes (-max-attributes-bytes)"},
		},
		{
			name:     "anchor bomb",
			params:   map[string]string{"objects": spctest.YAMLBomb(40)},
			wantCode: codes.InvalidArgument,
			want:     []string{"YAML nodes once its aliases (*name) and merge keys (<<) are expanded, the limit (-max-yaml-nodes)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.mount(t, tc.params)
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %s (%v, %d files), want %s", got, err, len(resp.GetFiles()), tc.wantCode)
			}
			if tc.wantCode == codes.OK {
				if len(resp.GetFiles()) != 1 || string(resp.Files[0].Contents) != "2097152" {
					t.Errorf("files %v", files(resp))
				}
				return
			}
			msg := status.Convert(err).Message()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(msg, a) {
					t.Errorf("message has %q: %s", a, msg)
				}
			}
			if len(msg) > 4<<10 || strings.Contains(msg, "aaaa") || strings.Contains(msg, "s3cret") {
				t.Errorf("message of %d bytes quotes a value: %.200s", len(msg), msg)
			}
		})
	}

	// One big file fits.
	resp, err := h.mount(t, map[string]string{"objects": "- {objectName: a.bin, secretPath: secret/data/big, secretKey: a}"})
	if err != nil || len(resp.GetFiles()) != 1 || len(resp.GetFiles()[0].Contents) != 2<<20 {
		t.Fatalf("one 2 MiB file: %v, %d files", err, len(resp.GetFiles()))
	}
}

// copies repeats line (a format with one %d) n times, numbered from 0.
func copies(n int, line string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, line, i)
	}
	return b.String()
}

// TestMountAccount checks that the mount's account, at its defaults, refuses
// what a class combines past it, naming its flag, and that a secret of a
// few MiB still fits.
func TestMountAccount(t *testing.T) {
	h := newHarness(t)
	big := func(c byte) string { return strings.Repeat(string(c), 2<<20) }
	write(t, h.vault, "secret/data/big", map[string]any{"data": map[string]any{"a": big('a'), "b": big('b'), "small": "s3cret-small"}})
	resp, err := h.mount(t, map[string]string{"objects": "- {objectName: a.bin, secretPath: secret/data/big, secretKey: a}"})
	if err != nil || len(resp.GetFiles()) != 1 || len(resp.GetFiles()[0].Contents) != 2<<20 {
		t.Fatalf("one 2 MiB file of a 4 MiB secret: %v, %d files", err, len(resp.GetFiles()))
	}
	// Each template renders the 900 KiB value again: together they pass
	// the account, though each is within its own limits.
	write(t, h.vault, "secret/data/mid", map[string]any{"data": map[string]any{"a": strings.Repeat("a", 900<<10)}})
	_, err = h.mount(t, map[string]string{"objects": "- {objectName: a, secretPath: secret/data/mid, secretKey: a, templateOnly: true}\n" +
		copies(8, "- {objectName: t%d, template: '{{ .a }}'}\n")})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(msg, "(-max-mount-memory)") {
		t.Fatalf("eight templates of 2 MiB: %v, want ResourceExhausted naming -max-mount-memory", err)
	}
	if strings.Contains(msg, "aaaa") {
		t.Errorf("message quotes the value: %.200s", msg)
	}
}
