// Package mlog stands in for monis.app/mlog, which the module proxy used here
// does not serve. It provides only what the Secrets Store CSI driver v1.6.0
// calls, on top of klog: the driver keeps logging through klog as before.
package mlog

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// LogFormat selects how klog writes its lines.
type LogFormat string

const (
	// FormatText is klog's own text format.
	FormatText LogFormat = "text"
	// FormatJSON writes one JSON object a line.
	FormatJSON LogFormat = "json"
	// FormatCLI is accepted and written as text.
	FormatCLI LogFormat = "cli"
)

// Setup returns the function to defer in main: it flushes klog.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally sets klog's verbosity and format.
// The context is unused; it is kept for the caller's signature.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("log level %d: must be 0 or more", level)
	}
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	if err := fs.Set("v", strconv.Itoa(int(level))); err != nil {
		return fmt.Errorf("set klog verbosity: %w", err)
	}
	switch format {
	case FormatText, FormatCLI, "":
	case FormatJSON:
		klog.SetLogger(funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) },
			funcr.Options{Verbosity: int(level)}))
	default:
		return fmt.Errorf("log format %q: use %s, %s or %s", format, FormatText, FormatJSON, FormatCLI)
	}
	return nil
}

// Error logs err with a message and key/value pairs.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, msg, keysAndValues...)
}

// Info logs a message with key/value pairs.
func Info(msg string, keysAndValues ...any) {
	klog.InfoSDepth(1, msg, keysAndValues...)
}

// Warning logs a message with key/value pairs at warning severity.
func Warning(msg string, keysAndValues ...any) {
	line := msg
	for i := 0; i < len(keysAndValues); i += 2 {
		var v any = "(missing)"
		if i+1 < len(keysAndValues) {
			v = keysAndValues[i+1]
		}
		line += fmt.Sprintf(" %v=%q", keysAndValues[i], fmt.Sprint(v))
	}
	klog.WarningDepth(1, line)
}

// Fatal logs err and exits with status 1 after flushing the logs.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, "fatal error", keysAndValues...)
	klog.FlushAndExit(klog.ExitFlushTimeout, 1)
}
