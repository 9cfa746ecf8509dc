// Package logging builds the provider's slog logger and carries per-request
// fields from handlers to the gRPC interceptor that logs the call.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Redacted replaces the value of any attribute whose key names a token.
const Redacted = "[REDACTED]"

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text" or "json").
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: use text or json", format)
	}
}

// redact is a safety net behind the rule that tokens are never logged: an
// attribute named like a token is blanked whatever its value.
func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	if strings.Contains(k, "token") || strings.Contains(k, "jwt") || strings.Contains(k, "secret_value") {
		return slog.String(a.Key, Redacted)
	}
	return a
}
