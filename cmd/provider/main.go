// Command vault-csi-provider is the HashiCorp Vault provider for the
// Secrets Store CSI driver. Without a subcommand it serves the driver's
// provider API on a unix socket; "vault-csi-provider mount" runs one mount
// offline to debug a SecretProviderClass; "vault-csi-provider prepare-dir"
// (an init container, as root) readies the driver's provider directory for a
// provider that runs as non-root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vault-csi-provider:", err)
		os.Exit(1)
	}
}

// run dispatches to the daemon, the offline check or prepare-dir.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var err error
	switch {
	case len(args) > 0 && args[0] == "mount":
		err = runCheck(ctx, args[1:], stdout, stderr, getenv)
	case len(args) > 0 && args[0] == "prepare-dir":
		err = runPrepareDir(args[1:], stdout, stderr)
	default:
		err = serve(ctx, args, stdout, stderr, getenv)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
