// Command e2e-kubelet plays the part of kubelet for the end-to-end tests: it
// creates the Pod object a volume belongs to (the pod stays Pending: there is
// no scheduler or real kubelet), asks the TokenRequest API for the pod's
// service-account tokens, and calls the Secrets Store CSI driver's
// NodePublishVolume and NodeUnpublishVolume over its unix socket with the
// volume context kubelet sends for an inline CSI volume.
//
//	e2e-kubelet publish --pod NS/NAME --sa SA --volume-context secretProviderClass=CLASS [--volume V] [--rotation]
//	e2e-kubelet unpublish --pod NS/NAME [--volume V] [--delete-pod]
//	e2e-kubelet target --pod NS/NAME [--volume V]   (the volume's path, as seen here)
//	e2e-kubelet token --pod NS/NAME --sa SA [--audience AUD]
//	e2e-kubelet ports N          (N free loopback TCP ports, one a line)
//
// The API server comes from --kubeconfig (or KUBECONFIG), the driver's socket
// from --csi-endpoint (or CSI_ENDPOINT). A volume's target path is kubelet's,
// PODS_DIR/POD_UID/volumes/kubernetes.io~csi/VOLUME/mount, with PODS_DIR from
// --pods-dir (or KUBELET_PODS_DIR), unless --target gives another.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "e2e-kubelet:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: e2e-kubelet publish|unpublish|target|token [flags] | ports N; e2e-kubelet COMMAND -h for its flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "publish":
		o, err := parsePublish(args[1:], stderr)
		if err != nil {
			return err
		}
		return publish(ctx, o, stdout)
	case "unpublish":
		o, err := parseUnpublish(args[1:], stderr)
		if err != nil {
			return err
		}
		return unpublish(ctx, o, stdout)
	case "token":
		o, err := parseToken(args[1:], stderr)
		if err != nil {
			return err
		}
		return printToken(ctx, o, stdout)
	case "target":
		o, err := parseTarget(args[1:], stderr)
		if err != nil {
			return err
		}
		return printTarget(ctx, o, stdout)
	case "ports":
		return printFreePorts(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
