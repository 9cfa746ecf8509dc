// Command vault-csi-provider is the HashiCorp Vault provider for the
// Secrets Store CSI driver. Without a subcommand it serves the driver's
// provider API on a unix socket; "vault-csi-provider mount" runs one mount
// offline to debug a SecretProviderClass.
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

// run dispatches to the daemon or to the offline check.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var err error
	if len(args) > 0 && args[0] == "mount" {
		err = runCheck(ctx, args[1:], stdout, stderr, getenv)
	} else {
		err = serve(ctx, args, stdout, stderr, getenv)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
