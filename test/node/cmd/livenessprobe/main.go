// Command livenessprobe answers /healthz with the CSI driver's Probe, as the
// livenessprobe sidecar does (that image cannot be built here).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		log.Printf("livenessprobe: %v", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("livenessprobe", flag.ContinueOnError)
	addr := fs.String("csi-address", "/csi/csi.sock", "the CSI driver's socket")
	endpoint := fs.String("http-endpoint", "0.0.0.0:9808", "the address of /healthz")
	timeout := fs.Duration("probe-timeout", 3*time.Second, "the deadline of each Probe")
	fs.Int("v", 0, "ignored (livenessprobe's verbosity)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := grpc.NewClient("unix://"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := csi.NewIdentityClient(conn)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		if _, err := client.Probe(pctx, &csi.ProbeRequest{}); err != nil {
			http.Error(w, fmt.Sprintf("probe: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: *endpoint, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
