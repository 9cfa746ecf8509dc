package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewRejectsBadSettings(t *testing.T) {
	tests := []struct{ level, format, want string }{
		{"verbose", "text", `log level "verbose"`},
		{"info", "xml", `log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			_, err := New(&bytes.Buffer{}, tt.level, tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTokenAttributesAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("login", "token", "hvs.secret1", "serviceAccount.tokens", `{"vault":{"token":"eyJ..."}}`,
		slog.Group("req", slog.String("jwt", "eyJhbGc")), "pod", "shop/web-1")
	out := buf.String()
	for _, leaked := range []string{"hvs.secret1", "eyJ"} {
		if strings.Contains(out, leaked) {
			t.Errorf("log leaks %q: %s", leaked, out)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["pod"] != "shop/web-1" || rec["token"] != Redacted {
		t.Errorf("record = %v", rec)
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "warn", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Errorf("level warn wrote: %s", buf.String())
	}
}

func TestFields(t *testing.T) {
	Add(context.Background(), slog.String("ignored", "x")) // no Fields: no effect, no panic
	ctx, f := WithFields(context.Background())
	Add(ctx, slog.String("pod", "a/b"))
	Add(ctx, slog.Int("objects", 2))
	got := f.Attrs()
	if len(got) != 2 || got[0].Key != "pod" || got[1].Value.Int64() != 2 {
		t.Errorf("attrs = %v", got)
	}
}
