package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/fakeapi"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
)

// The chaos scenarios (make chaos): the provider killed with SIGKILL and
// restarted twice while the pods mount, two pods deleted while it is down
// each time; then every Vault node stopped while new pods keep starting.
// The pods come from a fake API server (internal/kube/fakeapi) that the
// scenario adds pods to and deletes them from.
const (
	// staleWindow is the class's staleIfError; the node allows an hour.
	staleWindow = "10m"
	// deletedPerRestart are the pods deleted while the provider is down.
	deletedPerRestart = 2
	// revokeTarget is how soon after its start the restarted provider must
	// have revoked what the deleted pods held.
	revokeTarget = 30 * time.Second
	// soakAfterRestart is how long the pods mount after a restart before
	// the new leases, certificates and logins are read.
	soakAfterRestart = 5 * time.Second
	// startEvery is how often a new pod starts while Vault is down.
	startEvery = 2 * time.Second
)

// swapClient sends each Mount to the provider running now.
type swapClient struct {
	p atomic.Pointer[csitest.Provider]
}

func (s *swapClient) Version(ctx context.Context, in *pb.VersionRequest, opts ...grpc.CallOption) (*pb.VersionResponse, error) {
	return s.p.Load().Client.Version(ctx, in, opts...)
}

func (s *swapClient) Mount(ctx context.Context, in *pb.MountRequest, opts ...grpc.CallOption) (*pb.MountResponse, error) {
	return s.p.Load().Client.Mount(ctx, in, opts...)
}

// chaosPod is a pod mounting in a loop of its own.
type chaosPod struct {
	ref  fakeapi.Pod
	stop chan struct{}
	done chan struct{}
}

func (p *chaosPod) halt() {
	close(p.stop)
	<-p.done
}

// chaos runs both scenarios on one provider and returns the targets
// missed.
func (h *harness) chaos(ctx context.Context) ([]string, error) {
	kube, err := fakeapi.Start(h.dir)
	if err != nil {
		return nil, err
	}
	defer kube.Close()
	addr := strings.Join(h.tapURLs(), ",")
	dir := filepath.Join(h.dir, "chaos")
	args := append(append(kube.ProviderArgs(), "-max-stale-if-error=1h"), h.opts.providerArgs...)
	start := func() (*csitest.Provider, error) {
		return csitest.StartProvider(ctx, h.opts.provider, dir, addr, true, args...)
	}
	step(fmt.Sprintf("chaos: %d pods (staleIfError %s) through %s, pods from a fake API server", h.opts.pods, staleWindow, addr))
	prov, err := start()
	if err != nil {
		return nil, err
	}
	client := &swapClient{}
	client.p.Store(prov)
	defer func() { client.p.Load().Stop() }()
	if err := kube.WaitWatching(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	t := &tally{problems: map[string]int{}}
	var pods []*chaosPod
	defer func() {
		for _, p := range pods {
			select {
			case <-p.stop:
			default:
				p.halt()
			}
		}
	}()
	for i := range h.opts.pods {
		ref := fakeapi.Pod{Name: fmt.Sprintf("chaos-%02d", i), Namespace: namespace, UID: fmt.Sprintf("chaos-0000-4000-8000-%012d", i)}
		ref.ServiceAccount = "sa-" + ref.Name
		req, err := podRequest(h.seeded, csitest.Pod(ref), addr, map[string]string{spc.KeyStaleIfError: staleWindow})
		if err != nil {
			return nil, err
		}
		kube.AddPods([]fakeapi.Pod{ref})
		p := &chaosPod{ref: ref, stop: make(chan struct{}), done: make(chan struct{})}
		go func() {
			defer close(p.done)
			mountLoop(ctx, client, req, h.checker, t, p.stop)
		}()
		pods = append(pods, p)
	}
	wctx, cancel := context.WithTimeoutCause(ctx, 30*time.Second, errors.New("pods not all mounted once after 30s"))
	err = waitMounts(wctx, t, len(pods))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w\nprovider log:\n%s", err, prov.LogTail())
	}
	// Every pod has its lease and certificate (20 successes may be some
	// pods' second mounts), and the state writer has written them.
	wctx, cancel = context.WithTimeoutCause(ctx, 30*time.Second, errors.New("not every pod has its lease after 30s"))
	err = csitest.WaitFor(wctx, 50*time.Millisecond, func() (bool, error) {
		n, err := counter(wctx, prov.MetricsURL, "vault_csi_provider_leases_total", "event", "created")
		return n >= float64(len(pods)), err
	})
	cancel()
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, 3*state.DefaultDelay); err != nil {
		return nil, err
	}

	var missed []string
	alive := pods
	for round := 1; round <= 2; round++ {
		victims := alive[len(alive)-deletedPerRestart:]
		alive = alive[:len(alive)-deletedPerRestart]
		m, err := h.restart(ctx, client, kube, start, victims, len(alive))
		if err != nil {
			return nil, fmt.Errorf("restart %d: %w", round, err)
		}
		missed = append(missed, m...)
	}
	m, err := h.vaultDown(ctx, client, kube, addr, alive)
	if err != nil {
		return nil, err
	}
	missed = append(missed, m...)
	for _, p := range alive {
		p.halt()
	}
	fmt.Printf("chaos: %d mounts, %d failed, %d wrong\n", t.mounts, t.failed, t.wrong)
	if t.wrong > 0 {
		missed = append(missed, fmt.Sprintf("chaos: %d wrong mounts", t.wrong))
	}
	return missed, nil
}

// restart deletes the victims' pods while the provider is killed, starts
// it again, and reports what the restart cost: new leases and
// certificates, logins, and how soon the victims' leases were revoked.
func (h *harness) restart(ctx context.Context, client *swapClient, kube *fakeapi.Server, start func() (*csitest.Provider, error),
	victims []*chaosPod, pods int) ([]string, error) {
	for _, v := range victims {
		v.halt()
	}
	before, err := h.dbLeases(ctx)
	if err != nil {
		return nil, err
	}
	old := client.p.Load()
	old.Kill()
	var refs []fakeapi.Pod
	for _, v := range victims {
		refs = append(refs, v.ref)
	}
	kube.DeletePods(refs)
	began := time.Now()
	prov, err := start()
	if err != nil {
		return nil, err
	}
	client.p.Store(prov)
	old.Stop()
	revokedIn := time.Duration(-1)
	var left int
	for time.Since(began) < 2*revokeTarget {
		if left, err = h.dbLeases(ctx); err != nil {
			return nil, err
		}
		if left <= before-len(victims) {
			revokedIn = time.Since(began)
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, soakAfterRestart); err != nil {
		return nil, err
	}
	var got [6]float64
	for i, c := range [][3]string{
		{"vault_csi_provider_leases_total", "event", "created"},
		{"vault_csi_provider_certificates_total", "event", "issued"},
		{"vault_csi_provider_certificates_total", "event", "reissued"},
		{"vault_csi_provider_logins_total", "result", "ok"},
		{"vault_csi_provider_leases_total", "event", "reused"},
		{"vault_csi_provider_certificates_total", "event", "reused"},
	} {
		if got[i], err = counter(ctx, prov.MetricsURL, c[0], c[1], c[2]); err != nil {
			return nil, err
		}
	}
	newCerts, logins := got[1]+got[2], got[3]
	revoked := min(len(victims), max(0, before-left))
	took := "-"
	if revokedIn >= 0 {
		took = fmt.Sprintf("%.1f", revokedIn.Seconds())
	}
	fmt.Printf("restart: %.0f new leases, %.0f new certificates, %.0f logins for %d pods, %d of %d deleted pods revoked in %s s\n",
		got[0], newCerts, logins, pods, revoked, len(victims), took)
	fmt.Printf("   in the %s after: %.0f leases and %.0f certificates reused from the state file\n", soakAfterRestart, got[4], got[5])
	var missed []string
	if got[0] > 0 || newCerts > 0 {
		missed = append(missed, fmt.Sprintf("restart: %.0f new leases and %.0f new certificates, want 0", got[0], newCerts))
	}
	if logins > 0 {
		missed = append(missed, fmt.Sprintf("restart: %.0f logins, want 0 (the tokens live an hour)", logins))
	}
	if revokedIn < 0 || revokedIn > revokeTarget {
		missed = append(missed, fmt.Sprintf("restart: %d of %d deleted pods revoked within %s", revoked, len(victims), revokeTarget))
	}
	if missed != nil {
		fmt.Printf("provider log:\n%s\n", prov.LogTail())
	}
	return missed, nil
}

// dbLeases counts the database leases Vault holds for the pods.
func (h *harness) dbLeases(ctx context.Context) (int, error) {
	i, err := h.waitActive(ctx, -1)
	if err != nil {
		return 0, err
	}
	s, err := h.cluster.admins[i].API().Logical().ListWithContext(ctx, "sys/leases/lookup/database/creds/"+role+"/")
	if err != nil || s == nil {
		return 0, err
	}
	keys, _ := s.Data["keys"].([]any)
	return len(keys), nil
}

// vaultDown stops every Vault node for -vault-down while new pods start,
// of known identities and of new ones, then starts the nodes again and
// reports how soon a new identity is served.
func (h *harness) vaultDown(ctx context.Context, client *swapClient, kube *fakeapi.Server, addr string, known []*chaosPod) ([]string, error) {
	window := h.opts.vaultDown
	step(fmt.Sprintf("vault-down: every Vault node stopped for %s while pods start", window))
	for _, nd := range h.cluster.nodes {
		nd.halt(false)
	}
	began := time.Now()
	var knownStarted, knownTried, refused, newTried int
	problems := map[string]int{}
	for n := 0; time.Since(began) < window; n++ {
		next := time.Now().Add(startEvery)
		k := fakeapi.Pod{Name: fmt.Sprintf("chaos-k-%03d", n), Namespace: namespace, UID: fmt.Sprintf("chaos-k000-4000-8000-%012d", n),
			ServiceAccount: known[n%len(known)].ref.ServiceAccount}
		u := fakeapi.Pod{Name: fmt.Sprintf("chaos-u-%03d", n), Namespace: namespace, UID: fmt.Sprintf("chaos-u000-4000-8000-%012d", n),
			ServiceAccount: fmt.Sprintf("sa-chaos-u-%03d", n)}
		kube.AddPods([]fakeapi.Pod{k, u})
		knownTried++
		if err := h.mountOnce(ctx, client, k, addr, true); err != nil {
			problems["known: "+summarise(err)]++
		} else {
			knownStarted++
		}
		newTried++
		switch err := h.mountOnce(ctx, client, u, addr, false); {
		case status.Code(err) == codes.Unavailable:
			refused++
		case err == nil:
			problems["new identity: served while Vault was down"]++
		default:
			problems["new identity: "+summarise(err)]++
		}
		if err := sleep(ctx, time.Until(next)); err != nil {
			return nil, err
		}
	}
	for _, nd := range h.cluster.nodes {
		if err := nd.start(); err != nil {
			return nil, err
		}
	}
	if _, err := h.waitActive(ctx, -1); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, h.cluster.logTails())
	}
	back := time.Now()
	freshIn := time.Duration(-1)
	for n := 0; time.Since(back) < time.Minute; n++ {
		u := fakeapi.Pod{Name: fmt.Sprintf("chaos-f-%03d", n), Namespace: namespace, UID: fmt.Sprintf("chaos-f000-4000-8000-%012d", n),
			ServiceAccount: fmt.Sprintf("sa-chaos-f-%03d", n)}
		kube.AddPods([]fakeapi.Pod{u})
		if h.mountOnce(ctx, client, u, addr, false) == nil {
			freshIn = time.Since(back)
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	for p, n := range problems {
		fmt.Printf("   %5d × %s\n", n, p)
	}
	fresh := "never (1 min)"
	if freshIn >= 0 {
		fresh = fmt.Sprintf("%.1f s", freshIn.Seconds())
	}
	fmt.Printf("vault-down: %d of %d known pods started, %d of %d new identities refused, fresh again %s after Vault (window %s)\n",
		knownStarted, knownTried, refused, newTried, fresh, window)
	var missed []string
	if knownStarted < knownTried || refused < newTried || freshIn < 0 {
		missed = append(missed, fmt.Sprintf("vault-down: %d of %d known pods started, %d of %d new identities refused, fresh again %s",
			knownStarted, knownTried, refused, newTried, fresh))
	}
	return missed, nil
}

// mountOnce mounts pod's volume once, as a kubelet's first try, and checks
// the files; stale asks for the class's staleIfError.
func (h *harness) mountOnce(ctx context.Context, client pb.CSIDriverProviderClient, pod fakeapi.Pod, addr string, stale bool) error {
	var more map[string]string
	if stale {
		more = map[string]string{spc.KeyStaleIfError: staleWindow}
	}
	req, err := podRequest(h.seeded, csitest.Pod(pod), addr, more)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := client.Mount(mctx, req)
	if err != nil {
		return err
	}
	return h.checker.check(ctx, resp)
}

var _ pb.CSIDriverProviderClient = (*swapClient)(nil)
