package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/podwatch"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
)

const (
	// stateKeyTimeout bounds the read (or creation) of the state key, and
	// the list of the node's pods, before the provider serves.
	stateKeyTimeout = 10 * time.Second
	// goneRevokeTimeout bounds the revocations of the pods deleted while
	// the provider was down; goneRevokeWait is how long the provider waits
	// for them before it serves (a Vault that is down must not keep the
	// known pods from starting), leaving the rest to go on meanwhile.
	goneRevokeTimeout = time.Minute
	goneRevokeWait    = 10 * time.Second
)

// stateKube is what the state needs of Kubernetes: the key Secret and the
// node's pods (internal/kube's Client).
type stateKube interface {
	hmackey.SecretClient
	PodsOnNode(node string) cache.ListerWatcher
}

// podForgetter forgets a pod and revokes what was issued for it
// (mount.Service).
type podForgetter interface {
	ForgetPod(ctx context.Context, uid string)
}

// restoreState loads the state file into the service's caches, revokes
// what the pods deleted meanwhile held, and returns the writer that keeps
// the file up to date; nil when the node keeps no state. Nothing here
// stops the provider: a file it cannot use is logged and discarded.
func restoreState(ctx context.Context, cfg *config.Serve, kc stateKube, svc podForgetter, src state.Sources,
	m *metrics.Metrics, log *slog.Logger) *state.Writer {
	switch {
	case cfg.StateFile == "":
		log.Info("no state file (-state-file is empty): a restart logs in again and asks Vault for new leases and certificates")
		return nil
	case kc == nil:
		log.Warn("no state file: its key is kept in a Kubernetes Secret and the provider has no Kubernetes access", "file", cfg.StateFile)
		return nil
	}
	start := time.Now()
	kctx, cancel := context.WithTimeout(ctx, stateKeyTimeout)
	key, err := hmackey.NewNamed(kc, cfg.Namespace, cfg.StateSecretName, "state key").Key(kctx)
	cancel()
	if err != nil {
		log.Warn("no state file: its key Secret cannot be read or created", "file", cfg.StateFile, "error", err)
		return nil
	}
	snap, err := state.Load(cfg.StateFile, key)
	if err != nil {
		log.Warn("state file discarded: a restart logs in again and asks Vault for new leases", "file", cfg.StateFile, "error", err)
		if err := os.Remove(cfg.StateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("state file not removed", "file", cfg.StateFile, "error", err)
		}
		snap = &state.Snapshot{}
	}
	restored := src.Restore(snap)
	gone := revokeGone(ctx, cfg, kc, svc, snap.PodUIDs(), log)
	log.Info("state restored", "file", cfg.StateFile, "written", snap.Written.UTC().Format(time.RFC3339), "tokens", restored.Tokens,
		"leases", restored.Leases, "certificates", restored.Certificates, "stale_responses", restored.Stale,
		"pods", len(snap.PodUIDs()), "gone_pods_revoked", gone, "seconds", time.Since(start).Seconds())
	return &state.Writer{Path: cfg.StateFile, Key: key, Max: cfg.MaxStateBytes, Sources: src, Metrics: m, Logger: log}
}

// revokeGone forgets, and revokes what the provider held for, the pods of
// the state file that no longer run on the node; it returns how many, once
// their revocations are done or goneRevokeWait has passed (they go on in
// the background until goneRevokeTimeout). Without a pod list it leaves
// them to the pod watch's sweeps.
func revokeGone(ctx context.Context, cfg *config.Serve, kc stateKube, svc podForgetter, uids []string, log *slog.Logger) int {
	if len(uids) == 0 {
		return 0
	}
	if cfg.NodeName == "" {
		log.Warn("no -node-name: the pods deleted while the provider was down keep their tokens and leases until they expire")
		return 0
	}
	lctx, cancel := context.WithTimeout(ctx, stateKeyTimeout)
	running, err := podwatch.Running(lctx, kc.PodsOnNode(cfg.NodeName), cfg.NodeName)
	cancel()
	if err != nil {
		log.Warn("the pods deleted while the provider was down are left to the pod watch", "error", err)
		return 0
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), goneRevokeTimeout)
	var wg sync.WaitGroup
	n := 0
	for _, uid := range uids {
		if running[uid] {
			continue
		}
		n++
		wg.Go(func() { svc.ForgetPod(rctx, uid) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		cancel()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(goneRevokeWait):
		log.Warn("still revoking what the pods deleted while the provider was down held: serving meanwhile", "pods", n)
	}
	return n
}
