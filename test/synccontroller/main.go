// Command e2e-sync-controller stands in for the Secrets Store sync
// controller (kubernetes-sigs/secrets-store-sync-controller v0.0.4), whose
// Go module the module proxy here does not serve. For one SecretSync it
// makes the provider Mount call the controller makes, with what the
// controller reads from the API server, and checks the answer as the
// controller does:
//
//	e2e-sync-controller sync --controller NS/POD --namespace NS --name SECRETSYNC --sa SA --class CLASS \
//	    [--audience AUD] [--source-path PATH]... [--provider-dir DIR] [--timeout 30s]
//
// It reads the controller's Pod (creating it on --node-name if missing:
// its name and UID are the downward API's), the SecretProviderClass
// CLASS in NS (its provider names the socket, DIR/PROVIDER.sock, and its
// parameters are the request's), asks the TokenRequest API for a 600 s
// token of NS/SA for AUD with no pod binding (none without --audience),
// and sends the Mount of csitest.SyncRequest. It prints the controller's
// pod, the request's pod attributes (the tokens as audience and lifetime only), each file's
// path, size and SHA-256 (never its content), each object version, and
// each --source-path (a SecretSync's secretObject.data[].sourcePath) with
// the file it names. It fails, as the controller would, on a Mount error
// (printing its gRPC code), an empty object_version list, or a sourcePath
// the SecretSync CRD's pattern refuses or no returned file matches.
//
// The API server comes from --kubeconfig (or KUBECONFIG); DIR from
// --provider-dir (or SYNC_PROVIDER_DIR); the node from --node-name (or
// NODE_NAME).
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "e2e-sync-controller:", err)
		}
		os.Exit(1)
	}
}

const usage = "usage: e2e-sync-controller sync [flags]; e2e-sync-controller sync -h for its flags"

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "sync" {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	o, err := parseSync(args[1:], stderr, getenv)
	if err != nil {
		return err
	}
	return syncOnce(ctx, o, stdout)
}
