package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ha:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dir, _ := os.MkdirTemp("", "ha-")
	bin, err := vaulttest.Binary()
	if err != nil {
		return err
	}
	start := time.Now()
	tr, err := startTransit(ctx, bin, dir)
	if err != nil {
		return err
	}
	defer tr.server.Stop()
	c, err := startCluster(ctx, bin, dir, tr)
	if err != nil {
		return err
	}
	defer c.stop()
	fmt.Println("cluster up in", time.Since(start), dir)
	return nil
}
