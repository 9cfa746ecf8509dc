// Command registrar registers a CSI driver with the kubelet, as the
// node-driver-registrar sidecar does (that image cannot be built here): it
// asks the driver its name over CSI, then serves the kubelet's plugin
// registration API (k8s.io/kubelet/pkg/apis/pluginregistration/v1) on
// NAME-reg.sock in the registration directory, which the kubelet watches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type options struct {
	csiAddress       string // the driver's socket as this container sees it
	registrationPath string // the driver's socket as the kubelet sees it
	registrationDir  string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	fs.StringVar(&o.csiAddress, "csi-address", "/csi/csi.sock", "the CSI driver's socket in this container")
	fs.StringVar(&o.registrationPath, "kubelet-registration-path", "", "the CSI driver's socket on the host, for the kubelet")
	fs.StringVar(&o.registrationDir, "registration-dir", "/registration", "the kubelet's plugin registration directory, mounted")
	fs.Int("v", 0, "ignored (node-driver-registrar's verbosity)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.registrationPath == "" {
		return o, errors.New("-kubelet-registration-path: empty")
	}
	return o, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		log.Printf("registrar: %v", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	name, err := driverName(ctx, o.csiAddress)
	if err != nil {
		return err
	}
	sock := filepath.Join(o.registrationDir, name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	failed := make(chan error, 1)
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registration{name: name, endpoint: o.registrationPath, failed: failed})
	log.Printf("registrar: serving %s for driver %s at %s", sock, name, o.registrationPath)
	go func() {
		select {
		case <-ctx.Done():
		case <-failed:
		}
		srv.GracefulStop()
	}()
	if err := srv.Serve(lis); err != nil {
		return err
	}
	select {
	case err := <-failed:
		return err
	default:
		return nil
	}
}

// driverName asks the driver for its name, waiting until its socket answers.
func driverName(ctx context.Context, addr string) (string, error) {
	conn, err := grpc.NewClient("unix://"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	client := csi.NewIdentityClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := client.GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return info.GetName(), nil
		}
		log.Printf("registrar: GetPluginInfo on %s: %v; retrying", addr, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
	failed         chan<- error
}

var _ registerapi.RegistrationServer = (*registration)(nil)

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.name,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.GetPluginRegistered() {
		// As node-driver-registrar: exit, so the kubelet restarts us and we try again.
		select {
		case r.failed <- fmt.Errorf("the kubelet refused the registration: %s", s.GetError()):
		default:
		}
		return &registerapi.RegistrationStatusResponse{}, nil
	}
	log.Printf("registrar: the kubelet registered %s", r.name)
	return &registerapi.RegistrationStatusResponse{}, nil
}
