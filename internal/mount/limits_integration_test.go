package mount_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc/spctest"
)

// TestMountLimits drives the limits through the socket, as the driver
// calls, against the real Vault.
func TestMountLimits(t *testing.T) {
	h := newHarness(t)
	big := func(c byte) string { return strings.Repeat(string(c), 2<<20) }
	write(t, h.vault, "secret/data/big", map[string]any{"data": map[string]any{"a": big('a'), "b": big('b'), "small": "s3cret-small"}})
	tests := []struct {
		name     string
		params   map[string]string
		wantCode codes.Code
		want     []string
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
			msg := status.Convert(err).Message()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
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
