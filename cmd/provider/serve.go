package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/nslabels"
	"github.com/vault-csi-provider/vault-csi-provider/internal/podwatch"
	"github.com/vault-csi-provider/vault-csi-provider/internal/policy"
	"github.com/vault-csi-provider/vault-csi-provider/internal/server"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

const (
	// socketMode lets only the socket's owner and root (the driver) connect.
	socketMode = 0o600
	// tokenTTL is the lifetime asked for in the TokenRequest fallback.
	tokenTTL = 10 * time.Minute
	// vaultClientCacheSize bounds the distinct Vault configurations kept.
	vaultClientCacheSize = 100
	// podResync is how often cached pods are compared with the node's pods.
	podResync = time.Minute
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
	if soft := setMemoryLimit(getenv, cgroupLimitFiles); soft > 0 {
		log.Info("Go memory limit set from the container's", "bytes", soft)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	kc, err := kube.NewClient(cfg.Kubeconfig, "vault-csi-provider/"+version, m)
	if err != nil {
		return err
	}
	pf, err := openPolicy(cfg.PolicyFile, m, log)
	if err != nil {
		return err
	}
	svc, src, err := newService(ctx, cfg, kc, pf, m, log)
	if err != nil {
		return err
	}
	// Before the socket exists: the driver's first mounts find the state.
	var sk stateKube // a nil interface without Kubernetes, never a nil *kube.Client
	if kc != nil {
		sk = kc
	}
	writer := restoreState(ctx, cfg, sk, svc, src, m, log)
	if filepath.Base(cfg.Endpoint) != mount.ProviderName+".sock" {
		log.Warn("the driver only connects to a socket named vault.sock in its provider directory", "endpoint", cfg.Endpoint)
	}
	lis, err := server.Listen(cfg.Endpoint, socketMode)
	if err != nil {
		return err
	}
	health := &server.Health{}
	var httpServers []httpServer
	for _, h := range []struct {
		name, addr string
		handler    http.Handler
	}{
		{"health", cfg.HealthAddr, health.Handler()},
		{"metrics", cfg.MetricsAddr, metrics.Handler(reg)},
	} {
		if h.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", h.addr)
		if err != nil {
			lis.Close()
			for _, s := range httpServers {
				s.lis.Close()
			}
			return fmt.Errorf("%s endpoint: %w", h.name, err)
		}
		httpServers = append(httpServers, httpServer{name: h.name, lis: l,
			srv: &http.Server{Handler: h.handler, ReadHeaderTimeout: 5 * time.Second}})
	}
	var background []func(context.Context) error
	if writer != nil {
		background = append(background, writer.Run)
	}
	if pf != nil {
		background = append(background, func(ctx context.Context) error {
			return watchPolicy(ctx, pf, cfg.PolicyReload, m, log)
		})
	}
	if kc != nil && cfg.NodeName != "" {
		background = append(background, func(ctx context.Context) error {
			err := podwatch.Run(ctx, podwatch.Options{Pods: kc.PodsOnNode(cfg.NodeName), NodeName: cfg.NodeName, Resync: podResync, Logger: log}, svc)
			if err != nil {
				// Mounts keep working without the watch; say what is lost.
				log.Error("pod watch stopped: deleted pods' tokens and leases are not revoked early", "error", err)
			}
			return nil
		})
	} else if cfg.RevokeOnPodDelete {
		log.Warn("no pod watch (needs Kubernetes access and -node-name / NODE_NAME): leases of deleted pods end with their TTL")
	}
	return runServers(ctx, log, svc, lis, health, httpServers, background, cfg.ShutdownTimeout)
}

// httpServer is one of the HTTP endpoints (health, metrics).
type httpServer struct {
	name string
	lis  net.Listener
	srv  *http.Server
}

// newService wires the process-wide caches and the node's policy (pf, nil
// for none) into the mount service; ctx bounds the namespace watch.
func newService(ctx context.Context, cfg *config.Serve, kc *kube.Client, pf *policy.File, m *metrics.Metrics, log *slog.Logger) (*mount.Service, state.Sources, error) {
	var (
		keys *hmackey.Source
		// tokens stays a nil interface without Kubernetes, not one holding
		// a nil *kube.Client, so the TokenRequest fallback reports it.
		tokens auth.TokenCreator
		err    error
	)
	if kc == nil {
		log.Warn("no Kubernetes configuration: using an in-memory HMAC key (object versions change on restart) and driver-supplied tokens only")
		if keys, err = hmackey.Ephemeral(); err != nil {
			return nil, state.Sources{}, err
		}
	} else {
		if cfg.Namespace == "" {
			return nil, state.Sources{}, errors.New("the provider's namespace is unknown: set -namespace or POD_NAMESPACE (the DaemonSet does this from the downward API)")
		}
		keys = hmackey.New(kc, cfg.Namespace, cfg.HMACSecretName)
		tokens = kc
	}
	d := cfg.Defaults.Vault // the operator's own TLS files, trusted anywhere
	clients, err := vault.NewClients(vaultClientCacheSize, vault.DefaultRetryPolicy().WithBudget(cfg.VaultRetryBudget),
		vault.WithMaxInFlight(cfg.MaxVaultRequests), vault.WithMaxInFlightPerTenant(cfg.MaxVaultRequestsPerNamespace), vault.WithMetrics(m),
		vault.WithTLSFiles([]string{d.CACert, d.CADirectory, d.ClientCert, d.ClientKey}, cfg.AllowedTLSDirs))
	if err != nil {
		return nil, state.Sources{}, err
	}
	requester, err := tokenRequester(cfg, tokens, log)
	if err != nil {
		return nil, state.Sources{}, err
	}
	authn, err := auth.NewAuthenticator(cfg.CacheSize, requester, m)
	if err != nil {
		return nil, state.Sources{}, err
	}
	leases := lease.New(lease.Options{MaxBytesPerPod: cfg.MaxKeptBytesPerPod, MaxBytes: cfg.MaxKeptBytes, Metrics: m})
	log.Info("starting", "version", version, "commit", buildCommit(), "endpoint", cfg.Endpoint,
		"vault_addr", cfg.Defaults.Vault.Address, "auth_mount", cfg.Defaults.AuthMount, "kubernetes", kc != nil,
		"limits", fmt.Sprintf("%+v", cfg.Defaults.Limits), "max_kept_bytes_per_pod", cfg.MaxKeptBytesPerPod, "max_kept_bytes", cfg.MaxKeptBytes)
	opts := mount.Options{
		Defaults:    cfg.Defaults,
		Clients:     clients,
		Auth:        authn,
		Keys:        keys,
		Concurrency: cfg.Concurrency,
		Version:     version,
		Logger:      log,
		Leases:      leases,
		Metrics:     m,
		Revoke:      cfg.RevokeOnPodDelete,
	}
	if cfg.MaxStaleIfError > 0 {
		opts.Stale, opts.MaxStaleIfError = stale.New(cfg.MaxStaleBytes), cfg.MaxStaleIfError
		log.Info("stale answers allowed while Vault is down, for classes that set staleIfError",
			"max_stale_if_error", cfg.MaxStaleIfError.String(), "max_stale_bytes", cfg.MaxStaleBytes)
	}
	// Interfaces left nil, never holding a nil pointer.
	if pf != nil {
		opts.Policy = pf
		if kc != nil {
			opts.NamespaceLabels = nslabels.New(kc.Namespaces(), ctx.Done(), log)
		}
	}
	svc, err := mount.NewService(opts)
	return svc, state.Sources{Auth: authn, Leases: leases, Stale: opts.Stale}, err
}

// tokenRequester is the TokenRequest fallback, nil with -driver-tokens-only.
// It never asks for an audience the API server accepts: those are read from
// the provider's own token. Without that file (run with a kubeconfig, out
// of the cluster) they cannot be known, and -allowed-audiences alone limits
// the fallback; listing an audience of the API server there is refused.
func tokenRequester(cfg *config.Serve, tokens auth.TokenCreator, log *slog.Logger) (*auth.TokenRequester, error) {
	if cfg.DriverTokensOnly {
		log.Info("driver tokens only: the TokenRequest API is never called; pods' tokens come from the CSIDriver's tokenRequests")
		return nil, nil
	}
	policy := auth.AudiencePolicy{Allowed: cfg.AllowedAudiences}
	if tokens != nil {
		apiAudiences, err := auth.APIServerAudiences(cfg.ServiceAccountTokenFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Warn("no service-account token of the provider's own: cannot tell which audiences the API server accepts, "+
				"so only -allowed-audiences limits the TokenRequest fallback", "file", cfg.ServiceAccountTokenFile,
				"allowed_audiences", cfg.AllowedAudiences)
		case err != nil:
			return nil, fmt.Errorf("-service-account-token-file: %w", err)
		}
		for _, a := range cfg.AllowedAudiences {
			if slices.Contains(apiAudiences, a) {
				return nil, fmt.Errorf("-allowed-audiences lists %q, an audience the Kubernetes API server accepts (from %s): "+
					"a token for it is a credential for the API server; remove it", a, cfg.ServiceAccountTokenFile)
			}
		}
		policy.APIServer = apiAudiences
	}
	return auth.NewTokenRequester(tokens, tokenTTL, policy), nil
}

// provider is the gRPC service with a way to give up on its mounts.
type provider interface {
	pb.CSIDriverProviderServer
	// Abandon cancels the mounts still running and returns their pods.
	Abandon() []auth.Pod
}

// runServers serves gRPC on lis, the HTTP endpoints and the background
// loops (pod watch, policy reload) until ctx ends, then stops within stopTimeout: in-flight mounts may
// finish until then; those still running are cancelled, logged and left
// behind, because a mount stuck where it cannot see its context (reading
// a file that never ends) would otherwise hold the daemon forever.
func runServers(ctx context.Context, log *slog.Logger, svc provider, lis net.Listener,
	health *server.Health, httpServers []httpServer, background []func(context.Context) error, stopTimeout time.Duration) error {
	grpcSrv := grpc.NewServer(grpc.UnaryInterceptor(server.Interceptor(log)))
	pb.RegisterCSIDriverProviderServer(grpcSrv, svc)

	g, gctx := errgroup.WithContext(ctx)
	// Serve returns only once a stop has finished, which with a stuck
	// mount is never: it is not waited for.
	serveErr := make(chan error, 1)
	health.SetReady(true)
	log.Info("serving", "socket", lis.Addr().String())
	go func() { serveErr <- grpcSrv.Serve(lis) }()
	g.Go(func() error {
		select {
		case err := <-serveErr:
			return fmt.Errorf("grpc server: %w", err)
		case <-gctx.Done():
			return nil
		}
	})
	for _, h := range httpServers {
		g.Go(func() error {
			if err := h.srv.Serve(h.lis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s server: %w", h.name, err)
			}
			return nil
		})
	}
	for _, run := range background {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		health.SetReady(false)
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		log.Info("stopping: waiting for in-flight mounts", "timeout", stopTimeout)
		stopped := make(chan struct{})
		go func() {
			grpcSrv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-stopCtx.Done():
			// Neither GracefulStop nor Stop (which waits for GracefulStop's
			// lock) returns while a handler is stuck: cancel and leave them.
			for _, p := range svc.Abandon() {
				log.Warn("stopping: abandoned a mount still running after -shutdown-timeout",
					"pod", p.Namespace+"/"+p.Name, "pod_uid", p.UID)
			}
		}
		var errs []error
		for _, h := range httpServers {
			err := h.srv.Shutdown(stopCtx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = h.srv.Close()
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	err := g.Wait()
	log.Info("stopped")
	return err
}
