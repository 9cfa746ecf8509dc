package mount

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
)

// TestWarnUnsyncable: a sync controller Mount whose files no sourcePath
// can name logs one warning naming each such object once; flat files and
// numeric suffixes log nothing.
func TestWarnUnsyncable(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		want  []string // objects named; nil: no warning
	}{
		{"flat names", []File{{Path: "password", Object: "password"}, {Path: "cert/1", Object: "cert"}}, nil},
		{"nested and keysAsFiles", []File{
			{Path: "password", Object: "password"},
			{Path: "db/user", Object: "db"}, {Path: "db/password", Object: "db"},
			{Path: "team/app", Object: "team/app"},
		}, []string{"db", "team/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m := metrics.NewUnregistered()
			s := &Service{opts: Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Metrics: m}}
			s.warnUnsyncable(context.Background(), tt.files)
			if n := testutil.ToFloat64(m.SyncUnnameable); n != float64(len(tt.want)) {
				t.Errorf("vault_csi_provider_sync_unnameable_objects_total = %v, want %d", n, len(tt.want))
			}
			got := buf.String()
			if tt.want == nil {
				if got != "" {
					t.Errorf("logged %q, want nothing", got)
				}
				return
			}
			if strings.Count(got, "level=WARN") != 1 {
				t.Fatalf("logged %q, want one warning", got)
			}
			if want := "objects=\"[" + strings.Join(tt.want, " ") + "]\""; !strings.Contains(got, want) {
				t.Errorf("logged %q, want it to hold %s", got, want)
			}
		})
	}
}
