package mount_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/client-go/kubernetes"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/mount"
	"github.com/vault-csi-provider/vault-csi-provider/internal/server"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"

	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
)

// The pod every test mounts for, allowed by the role "web".
const (
	podNamespace = "shop"
	podSA        = "web"
	podName      = "web-1"
	podUID       = "9b7f0c1e-1111-4000-8000-000000000001"
)

// harness is a real Vault dev server and the provider serving on a real
// unix socket, reached with the driver's gRPC client.
type harness struct {
	vault  *vaulttest.Server
	issuer *vaulttest.JWTIssuer
	client pb.CSIDriverProviderClient
	logs   *syncBuffer
	svc    *mount.Service
	// metrics are the service's, on a registry of its own.
	metrics *metrics.Metrics
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	keys, err := hmackey.Ephemeral()
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, keys, nil)
}

// newHarnessWith serves with the given HMAC key source and Kubernetes
// client for the TokenRequest fallback (nil: none).
func newHarnessWith(t testing.TB, keys mount.KeySource, kc kubernetes.Interface) *harness {
	t.Helper()
	v := vaulttest.StartT(t)
	return serve(t, v, setupVault(t, v), keys, kc, vault.Config{Address: v.Addr}, lease.Options{}, spc.Limits{})
}

// setupVault gives v the jwt auth, role, policy, mounts and PKI the tests
// use, and returns the issuer of the pods' tokens.
func setupVault(t testing.TB, v *vaulttest.Server) *vaulttest.JWTIssuer {
	t.Helper()
	ctx := context.Background()
	issuer, err := vaulttest.NewJWTIssuer("https://kubernetes.default.svc")
	if err != nil {
		t.Fatal(err)
	}
	must(t, v.ConfigureJWTAuth(ctx, "jwt", issuer))
	must(t, v.Mount(ctx, "kv1", "kv", map[string]string{"version": "1"}))
	must(t, v.Mount(ctx, "pki", "pki", nil))
	must(t, v.WritePolicy(ctx, "web", `
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`))
	must(t, v.WriteJWTRole(ctx, "jwt", "web", podNamespace, podSA, time.Hour, "web"))
	write(t, v, "pki/root/generate/internal", map[string]any{"common_name": "example.test", "ttl": "24h"})
	write(t, v, "pki/roles/web", map[string]any{"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h"})
	return issuer
}

// serve runs a provider for v on a new socket, with node defaults
// nodeVault (address and TLS settings), the bounds of leases on what it
// keeps, and the class limits lim (zero fields: the defaults); more
// changes the service's options last.
func serve(t testing.TB, v *vaulttest.Server, issuer *vaulttest.JWTIssuer, keys mount.KeySource, kc kubernetes.Interface, nodeVault vault.Config,
	leases lease.Options, lim spc.Limits, more ...func(*mount.Options)) *harness {
	t.Helper()
	logs := &syncBuffer{}
	log, err := logging.New(logs, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	// One set of metrics for the service, its Vault clients, its logins and
	// its kept leases.
	m := metrics.NewUnregistered()
	leases.Metrics = m
	clients, err := vault.NewClients(10, vault.RetryPolicy{MaxRetries: 2, MinWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond},
		vault.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	var tokens auth.TokenCreator
	if kc != nil {
		tokens = kubetest.Clientset{Interface: kc}
	}
	authn, err := auth.NewAuthenticator(100, auth.NewTokenRequester(tokens, 10*time.Minute, auth.AudiencePolicy{Allowed: []string{"vault"}}), m)
	if err != nil {
		t.Fatal(err)
	}
	opts := mount.Options{
		Defaults:    spc.Defaults{Vault: nodeVault, AuthMount: "jwt", Audience: "vault", Limits: lim},
		Clients:     clients,
		Auth:        authn,
		Keys:        keys,
		Concurrency: 4,
		Version:     "test",
		Logger:      log,
		Leases:      lease.New(leases),
		Metrics:     m,
		Revoke:      true,
	}
	for _, f := range more {
		f(&opts)
	}
	svc, err := mount.NewService(opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "vault.sock")
	lis, err := server.Listen(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(server.Interceptor(log)))
	pb.RegisterCSIDriverProviderServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{vault: v, issuer: issuer, client: pb.NewCSIDriverProviderClient(conn), logs: logs, svc: svc, metrics: m}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, v *vaulttest.Server, path string, data map[string]any) {
	t.Helper()
	if _, err := v.Write(context.Background(), path, data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// saToken signs a service-account token for the test pod (or another
// service account) with the audience "vault".
func (h *harness) saToken(t testing.TB, serviceAccount string) string {
	t.Helper()
	tok, err := h.issuer.ServiceAccountToken(podNamespace, serviceAccount, podName, podUID, "vault", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request builds the MountRequest the driver sends: the class's parameters
// plus the pod keys and the token for the audience "vault". params override
// the test pod's keys and the defaults; an empty value leaves a key out.
func (h *harness) request(t testing.TB, params map[string]string) *pb.MountRequest {
	t.Helper()
	pod := csitest.Pod{Name: podName, Namespace: podNamespace, UID: podUID, ServiceAccount: podSA}
	attrs := map[string]string{
		spc.KeyRoleName:                "web",
		"csi.storage.k8s.io/ephemeral": "true",
		"secretProviderClass":          "web-secrets",
	}
	for k, v := range params {
		switch k {
		case spc.KeyPodName:
			pod.Name = v
		case spc.KeyPodNamespace:
			pod.Namespace = v
		case spc.KeyPodUID:
			pod.UID = v
		case spc.KeyServiceAccount:
			pod.ServiceAccount = v
		default:
			if v == "" {
				delete(attrs, k)
			} else {
				attrs[k] = v
			}
		}
	}
	var tokens map[string]csitest.Token
	if _, set := params[spc.KeyDriverTokens]; !set {
		tokens = map[string]csitest.Token{"vault": {Token: h.saToken(t, pod.ServiceAccount), Expiration: time.Now().Add(time.Hour)}}
	}
	req, err := csitest.Request{Pod: pod, Params: attrs, Tokens: tokens, TargetPath: t.TempDir()}.Build()
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (h *harness) mount(t testing.TB, params map[string]string) (*pb.MountResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.client.Mount(ctx, h.request(t, params))
}

// files maps each returned file's path to its content and mode.
func files(resp *pb.MountResponse) map[string]file {
	m := map[string]file{}
	for _, f := range resp.GetFiles() {
		m[f.Path] = file{Content: string(f.Contents), Mode: f.Mode}
	}
	return m
}

type file struct {
	Content string
	Mode    int32
}

// checkStatus asserts err's gRPC code, that its message holds each of want,
// and that it quotes no test value (they all contain "s3cret").
func checkStatus(t *testing.T, err error, code codes.Code, want []string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code %s (%v), want %s", got, err, code)
	}
	msg := status.Convert(err).Message()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("message quotes a value: %s", msg)
	}
}

// mountFiles mounts objects and asserts the files, and that each has a
// version whose ID is its path.
func (h *harness) mountFiles(t *testing.T, objects string, want map[string]file) {
	t.Helper()
	resp, err := h.mount(t, map[string]string{"objects": objects})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, files(resp)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(resp.ObjectVersion) != len(resp.Files) {
		t.Fatalf("%d versions for %d files", len(resp.ObjectVersion), len(resp.Files))
	}
	for i, v := range resp.ObjectVersion {
		if v.Id != resp.Files[i].Path || v.Version == "" {
			t.Errorf("version %d = %v for file %s", i, v, resp.Files[i].Path)
		}
	}
}
