package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube"
	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/server"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

const (
	// socketMode lets only the socket's owner and root (the driver) connect.
	socketMode = 0o600
	// tokenTTL is the lifetime asked for in the TokenRequest fallback.
	tokenTTL = 10 * time.Minute
	// vaultClientCacheSize bounds the distinct Vault configurations kept.
	vaultClientCacheSize = 100
	// stopTimeout bounds how long in-flight mounts may run after SIGTERM.
	stopTimeout = 30 * time.Second
)

// serve runs the daemon until ctx is cancelled.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := config.ParseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, versionString())
		return nil
	}
	log, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		return err
	}
	if filepath.Base(cfg.Endpoint) != mount.ProviderName+".sock" {
		log.Warn("the driver only connects to a socket named vault.sock in its provider directory", "endpoint", cfg.Endpoint)
	}
	lis, err := server.Listen(cfg.Endpoint, socketMode)
	if err != nil {
		return err
	}
	var healthLis net.Listener
	if cfg.HealthAddr != "" {
		if healthLis, err = net.Listen("tcp", cfg.HealthAddr); err != nil {
			lis.Close()
			return fmt.Errorf("health endpoint: %w", err)
		}
	}
	return runServers(ctx, log, svc, lis, healthLis)
}

// newService wires the process-wide caches into the mount service.
func newService(ctx context.Context, cfg *config.Serve, log *slog.Logger) (*mount.Service, error) {
	kc, err := kube.NewClient(cfg.Kubeconfig, "vault-csi-provider/"+version)
	if err != nil {
		return nil, err
	}
	var keys *hmackey.Source
	if kc == nil {
		log.Warn("no Kubernetes configuration: using an in-memory HMAC key (object versions change on restart) and driver-supplied tokens only")
		if keys, err = hmackey.Ephemeral(); err != nil {
			return nil, err
		}
	} else {
		if cfg.Namespace == "" {
			return nil, errors.New("the provider's namespace is unknown: set -namespace or POD_NAMESPACE (the DaemonSet does this from the downward API)")
		}
		keys = hmackey.New(kc, cfg.Namespace, cfg.HMACSecretName)
	}
	clients, err := vault.NewClients(vaultClientCacheSize, vault.DefaultRetryPolicy())
	if err != nil {
		return nil, err
	}
	authn, err := auth.NewAuthenticator(cfg.CacheSize, auth.NewTokenRequester(kc, tokenTTL))
	if err != nil {
		return nil, err
	}
	log.Info("starting", "version", version, "commit", buildCommit(), "endpoint", cfg.Endpoint,
		"vault_addr", cfg.Defaults.Vault.Address, "auth_mount", cfg.Defaults.AuthMount, "kubernetes", kc != nil)
	return mount.NewService(mount.Options{
		Defaults:    cfg.Defaults,
		Clients:     clients,
		Auth:        authn,
		Keys:        keys,
		Concurrency: cfg.Concurrency,
		Version:     version,
		Logger:      log,
	})
}

// runServers serves gRPC on lis and health on healthLis (if any) until ctx
// ends, then stops gracefully: in-flight mounts finish, bounded by
// stopTimeout.
func runServers(ctx context.Context, log *slog.Logger, svc pb.CSIDriverProviderServer, lis, healthLis net.Listener) error {
	grpcSrv := grpc.NewServer(grpc.UnaryInterceptor(server.Interceptor(log)))
	pb.RegisterCSIDriverProviderServer(grpcSrv, svc)
	health := &server.Health{}
	httpSrv := &http.Server{Handler: health.Handler(), ReadHeaderTimeout: 5 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		health.SetReady(true)
		log.Info("serving", "socket", lis.Addr().String())
		if err := grpcSrv.Serve(lis); err != nil {
			return fmt.Errorf("grpc server: %w", err)
		}
		return nil
	})
	if healthLis != nil {
		g.Go(func() error {
			if err := httpSrv.Serve(healthLis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("health server: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		health.SetReady(false)
		log.Info("stopping: waiting for in-flight mounts")
		stopped := make(chan struct{})
		go func() {
			grpcSrv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(stopTimeout):
			grpcSrv.Stop()
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return httpSrv.Shutdown(shutdownCtx)
	})
	err := g.Wait()
	log.Info("stopped")
	return err
}
