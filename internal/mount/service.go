package mount

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/account"
	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/logging"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// ProviderName is the name the driver knows this provider by; it is also the
// socket's base name (vault.sock).
const ProviderName = "vault"

// KeySource supplies the HMAC key for object versions.
type KeySource interface {
	Key(ctx context.Context) ([]byte, error)
}

// Options wires a Service; the caches in it are process-wide and shared by
// every request.
type Options struct {
	Defaults spc.Defaults
	Clients  *vault.Clients
	Auth     *auth.Authenticator
	Keys     KeySource
	// Concurrency bounds the Vault requests one mount has in flight.
	Concurrency int
	// Version is reported by the Version RPC.
	Version string
	// Logger receives warnings that do not fail a mount.
	Logger *slog.Logger
	// Leases keeps leased secrets and certificates for reuse on republish;
	// nil turns reuse off for the node.
	Leases *lease.Cache
	// Metrics records mounts; nil records nothing anyone scrapes.
	Metrics *metrics.Metrics
	// Revoke makes ForgetPod revoke the pod's Vault tokens and leases.
	Revoke bool
	// Policy is the node's policy, applied to every mount's parameters;
	// nil allows everything.
	Policy Policies
	// NamespaceLabels serves policies that match namespaces by label.
	NamespaceLabels NamespaceLabels
	// Stale keeps the last good responses for classes with staleIfError;
	// nil, or MaxStaleIfError 0, serves none and keeps none.
	Stale *stale.Cache
	// MaxStaleIfError caps a class's staleIfError (-max-stale-if-error).
	MaxStaleIfError time.Duration
}

// Service implements the driver's provider API.
type Service struct {
	pb.UnimplementedCSIDriverProviderServer
	opts Options
	// fallbackKey versions objects while the HMAC key cannot be read, so a
	// Kubernetes outage does not stop secrets from being delivered.
	fallbackKey []byte
	// keyDown is set while the HMAC key cannot be read.
	keyDown atomic.Bool
	// parsed maps the hash of a request's raw attributes to their
	// parameters: a republish sends the same attributes, so parsing (the
	// YAML above all) is done once. The key is a hash so the cache holds
	// the attributes, which carry the pod's token, only once. Params are
	// never modified after parsing. ForgetPod drops a deleted pod's entries.
	parsed *parsedCache
	// account caps each mount; pool admits the mounts in flight within
	// the node's bytes (Defaults.Limits).
	account account.Limits
	pool    *account.Pool
	// gone holds the UIDs of recently deleted pods (see PodGone).
	gone *lru.Cache[string, struct{}]
	// running are the mounts in flight (see Abandon).
	running inFlight
	// revoking bounds the revocations of deleted pods' tokens in flight.
	revoking *revocations
}

// attrsKey is the SHA-256 of a request's raw attributes.
type attrsKey [sha256.Size]byte

// parsedCacheSize bounds the distinct attribute sets kept parsed; one per
// volume on the node is plenty.
const parsedCacheSize = 1024

var _ pb.CSIDriverProviderServer = (*Service)(nil)

// NewService checks o and returns a Service.
func NewService(o Options) (*Service, error) {
	if o.Clients == nil || o.Auth == nil || o.Keys == nil {
		return nil, errors.New("mount service needs Vault clients, an authenticator and an HMAC key source")
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewUnregistered()
	}
	fallback := make([]byte, 32)
	if _, err := rand.Read(fallback); err != nil {
		return nil, fmt.Errorf("fallback HMAC key: %w", err)
	}
	parsed, err := newParsedCache(parsedCacheSize, parsedCacheBytes)
	if err != nil {
		return nil, err
	}
	gone, err := lru.New[string, struct{}](goneSize)
	if err != nil {
		return nil, err
	}
	// Assumed readable until a mount fails to read it, so an idle node
	// raises no alert.
	o.Metrics.HMACKeyAvailable.Set(1)
	// Resolved once here, not on every mount.
	o.Defaults.Limits = o.Defaults.Limits.OrDefault()
	lim := o.Defaults.Limits
	acct := account.Limits{Bytes: int64(lim.MountMemory), Work: int64(lim.MountWork)}
	pool := account.NewPool(account.PoolLimits{Bytes: int64(lim.NodeMemory), Account: acct.Bytes})
	return &Service{opts: o, fallbackKey: fallback, parsed: parsed, gone: gone, account: acct, pool: pool,
		revoking: newRevocations(revocationsPerAddress, revocationsTotal)}, nil
}

// Version reports the API version and this runtime.
func (s *Service) Version(context.Context, *pb.VersionRequest) (*pb.VersionResponse, error) {
	return &pb.VersionResponse{
		Version:        "v1alpha1",
		RuntimeName:    "vault-csi-provider",
		RuntimeVersion: s.opts.Version,
	}, nil
}

// Mount fetches the objects of one volume and returns them as files for the
// driver to write; any failing object fails the whole mount.
func (s *Service) Mount(ctx context.Context, req *pb.MountRequest) (*pb.MountResponse, error) {
	start := time.Now()
	res, err := s.mount(ctx, req)
	code := codes.OK
	if err != nil {
		code = Code(ctx, err)
	}
	s.opts.Metrics.Mounts.WithLabelValues(code.String()).Inc()
	s.opts.Metrics.MountDuration.WithLabelValues(code.String()).Observe(time.Since(start).Seconds())
	if err != nil {
		// The driver logs the message and records it in events: bound it
		// whatever layer wrote it.
		return nil, status.Error(code, spc.Truncate(err.Error(), spc.MaxErrorBytes))
	}
	resp := &pb.MountResponse{}
	for _, f := range res.Files {
		resp.Files = append(resp.Files, &pb.File{Path: f.Path, Mode: f.Mode, Contents: f.Contents})
	}
	for _, f := range res.Files {
		resp.ObjectVersion = append(resp.ObjectVersion, &pb.ObjectVersion{Id: f.Path, Version: f.Version})
	}
	return resp, nil
}

func (s *Service) mount(ctx context.Context, req *pb.MountRequest) (*Result, error) {
	mode, err := decodePermission(req.GetPermission())
	if err != nil {
		return nil, err
	}
	raw := req.GetAttributes()
	if limit := s.opts.Defaults.Limits.AttributesBytes; len(raw) > limit {
		return nil, spc.AttrsTooLarge(len(raw), limit)
	}
	// Everything the mount makes from here is charged to its account, which
	// waits for room in the node's pool, in the line of the pod's namespace.
	acct, err := s.pool.Open(ctx, namespaceOf(raw), s.account)
	if err != nil {
		return nil, err
	}
	defer acct.Close()
	key := attrsKey(sha256.Sum256([]byte(raw)))
	p, ok := s.parsed.Get(key)
	if !ok {
		if err := acct.Charge(int(account.JSONBytes(raw)), "decoding the attributes"); err != nil {
			return nil, err
		}
		attrs, err := decodeAttributes(raw)
		if err != nil {
			return nil, err
		}
		if p, err = spc.ParseParams(acct, attrs, s.opts.Defaults); err != nil {
			return nil, err
		}
		s.parsed.Add(key, p)
	}
	return s.mountParams(ctx, acct, p, mode)
}

// namespaceMark is how the driver's JSON encoding of the attributes
// introduces the pod's namespace.
const namespaceMark = `"` + spc.KeyPodNamespace + `":"`

// namespaceOf finds the pod's namespace in the raw attributes without
// decoding them, so a mount is admitted in its namespace's line before it
// makes anything. A namespace is a DNS label, which JSON never escapes; a
// value that only looks like one names a line, nothing else.
func namespaceOf(raw string) string {
	i := strings.Index(raw, namespaceMark)
	if i < 0 {
		return ""
	}
	rest := raw[i+len(namespaceMark):]
	end := strings.IndexByte(rest, '"')
	if end < 0 || end > 63 {
		return ""
	}
	return rest[:end]
}

// decodeAttributes reads the JSON-encoded attributes the driver sends.
func decodeAttributes(raw string) (map[string]string, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(raw), &attrs); err != nil {
		return nil, &spc.ParamsError{Problems: []string{"the driver sent attributes that are not a JSON object of strings"}}
	}
	return attrs, nil
}

// decodePermission reads the driver's default file mode, a JSON number.
func decodePermission(raw string) (int32, error) {
	if raw == "" {
		return 0o644, nil
	}
	var m uint32
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m > 0o777 {
		return 0, &spc.ParamsError{Problems: []string{fmt.Sprintf("the driver sent file permission %q, want a number from 0 to 511 (0777)", raw)}}
	}
	return int32(m), nil
}

// File is one file of a mount result, with the version the driver reports
// for it (the object version's ID is the file's path).
type File struct {
	Path     string
	Mode     int32
	Contents []byte
	Version  string
	// Object is the objectName of the object that made the file.
	Object string
}

// Result is what one mount produced.
type Result struct {
	Files []File
	// Unwritten are the objects that made no file, and why.
	Unwritten []Unwritten
}

// Unwritten is an object that made no file.
type Unwritten struct {
	Object string
	Reason string
}

// MountAttributes runs a mount for already decoded attributes; the offline
// check calls it directly. defaultMode applies to objects without
// filePermission.
func (s *Service) MountAttributes(ctx context.Context, attrs map[string]string, defaultMode int32) (*Result, error) {
	acct := account.New(ctx, s.account)
	p, err := spc.ParseParams(acct, attrs, s.opts.Defaults)
	if err != nil {
		return nil, err
	}
	return s.mountParams(ctx, acct, p, defaultMode)
}

func (s *Service) mountParams(ctx context.Context, acct *account.Account, p *spc.Params, defaultMode int32) (*Result, error) {
	logging.Add(ctx,
		slog.String("pod", p.Pod.Namespace+"/"+p.Pod.Name),
		slog.String("pod_uid", p.Pod.UID),
		slog.String("role", p.RoleName),
		slog.Int("objects", len(p.Plan.Outputs)))
	ctx, done := s.running.track(ctx, p.Pod)
	defer done()
	// Every Vault call of this mount, logins included, counts against its
	// namespace's share of the node's Vault request slots.
	ctx = vault.WithTenant(ctx, p.Pod.Namespace)
	// The Vault calls charge their bodies to the mount's account.
	ctx = account.With(ctx, acct)
	// Before any network call or file the class names.
	if err := s.checkPolicy(ctx, acct, p); err != nil {
		return nil, err
	}
	client, err := s.opts.Clients.Get(ctx, p.Vault)
	if err != nil {
		return nil, err
	}
	got, err := s.fetch(ctx, client, p)
	if err != nil {
		return nil, err
	}
	made, err := render(ctx, acct, p.Plan, got, s.opts.Defaults.Limits.MountBytes)
	if err != nil {
		return nil, err
	}
	key := s.versionKey(ctx)
	res := &Result{}
	for i, out := range p.Plan.Outputs {
		switch {
		case out.TemplateOnly:
			res.Unwritten = append(res.Unwritten, Unwritten{out.Name, "templateOnly: read for templates"})
			continue
		case len(made[i]) == 0 && out.Optional:
			res.Unwritten = append(res.Unwritten, Unwritten{out.Name, "optional: missing in Vault, left out"})
			continue
		case len(made[i]) == 0:
			// keysAsFiles of an empty map.
			res.Unwritten = append(res.Unwritten, Unwritten{out.Name, "no keys in the secret"})
			continue
		}
		mode := defaultMode
		if out.Mode != nil {
			mode = *out.Mode
		}
		// Each file's entry and version.
		if err := acct.Charge(len(made[i])*fileEntryBytes, out.Label); err != nil {
			return nil, err
		}
		for _, f := range made[i] {
			res.Files = append(res.Files, File{Path: f.path, Mode: mode, Contents: f.contents,
				Version: version(key, identity(p, out, f.path), f.contents), Object: out.Name})
		}
	}
	if err := checkFiles(res.Files); err != nil {
		return nil, err
	}
	if p.SyncController {
		s.warnUnsyncable(ctx, res.Files)
	}
	if err := checkSize(res, s.opts.Defaults.Limits.MountBytes); err != nil {
		return nil, err
	}
	return res, nil
}

// fileEntryBytes is a File of a result besides its contents: the struct,
// its version and its share of the response's lists.
const fileEntryBytes = 256

// versionKey is the node's HMAC key, or the in-memory fallback while the
// key Secret cannot be read (the key source retries on the next mount).
func (s *Service) versionKey(ctx context.Context) []byte {
	key, err := s.opts.Keys.Key(ctx)
	if err != nil {
		// Set on every mount, so the gauge follows the last read whatever
		// the order of concurrent mounts; logged once per outage.
		s.opts.Metrics.HMACKeyAvailable.Set(0)
		if !s.keyDown.Swap(true) {
			s.opts.Logger.WarnContext(ctx, "HMAC key unavailable: object versions use an in-memory key until it can be read", "error", err)
		}
		return s.fallbackKey
	}
	s.opts.Metrics.HMACKeyAvailable.Set(1)
	if s.keyDown.Swap(false) {
		s.opts.Logger.InfoContext(ctx, "HMAC key readable again: object versions use it")
	}
	return key
}
