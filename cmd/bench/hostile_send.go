package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// hostilePlan is the Mount requests of one attack.
type hostilePlan struct {
	// attack are sent one after another, or all at once with a bystander.
	attack []*pb.MountRequest
	// bystander is another namespace's small mount, sent while the attack
	// runs; its answer is the attack's.
	bystander *pb.MountRequest
}

// Pods of the attacks: the attacker's namespace, and a bystander's.
var (
	attackerPod  = csitest.Pod{Name: "attacker", Namespace: "tenant-a", UID: "00000000-0000-0000-0000-00000000a77a", ServiceAccount: "default"}
	bystanderPod = csitest.Pod{Name: "bystander", Namespace: "tenant-b", UID: "00000000-0000-0000-0000-00000000b0b0", ServiceAccount: "default"}
)

func (c hostileCase) plan(h *hostileEnv) (hostilePlan, error) {
	params := c.params(h)
	var plan hostilePlan
	for i := range max(1, c.pods, c.crowd) {
		pod := attackerPod
		if i > 0 {
			pod.Name = fmt.Sprintf("attacker-%d", i)
			pod.UID = fmt.Sprintf("%s-%d", attackerPod.UID, i)
		}
		req, err := hostileRequest(pod, params)
		if err != nil {
			return plan, err
		}
		plan.attack = append(plan.attack, req)
	}
	if c.crowd > 0 {
		req, err := hostileRequest(bystanderPod, h.class("- {objectName: k, secretPath: hostile/small, secretKey: k}\n"))
		if err != nil {
			return plan, err
		}
		plan.bystander = req
	}
	return plan, nil
}

// hostileAnswer is the answer an attack waits for.
type hostileAnswer struct {
	err     error
	elapsed time.Duration
	note    string
}

// send sends the plan's mounts, each with its own deadline.
func (plan hostilePlan) send(ctx context.Context, client pb.CSIDriverProviderClient, h *hostileEnv, deadline time.Duration) hostileAnswer {
	if plan.bystander != nil {
		return plan.crowd(ctx, client, h, deadline)
	}
	var a hostileAnswer
	var slowest time.Duration
	for i, req := range plan.attack {
		a = mountOnce(ctx, client, req, deadline)
		slowest = max(slowest, a.elapsed)
		if len(plan.attack) > 1 {
			a.note = fmt.Sprintf("pod %d of %d", i+1, len(plan.attack))
		}
		if a.err != nil {
			break
		}
	}
	a.elapsed = slowest
	return a
}

// crowd sends the attack's mounts at once and, once they have reached the
// Vault reads (or crowdStart has passed, or one has answered), the
// bystander's.
func (plan hostilePlan) crowd(ctx context.Context, client pb.CSIDriverProviderClient, h *hostileEnv, deadline time.Duration) hostileAnswer {
	before := h.vault.slowStarted.Load()
	done := make(chan error, len(plan.attack))
	for _, req := range plan.attack {
		go func() { done <- mountOnce(ctx, client, req, deadline).err }()
	}
	var got []error
	wctx, cancel := context.WithTimeout(ctx, crowdStart)
	csitest.WaitFor(wctx, 10*time.Millisecond, func() (bool, error) {
		select {
		case err := <-done:
			got = append(got, err)
		default:
		}
		return len(got) > 0 || h.vault.slowStarted.Load() > before, nil
	})
	cancel()
	a := mountOnce(ctx, client, plan.bystander, deadline)
	for len(got) < len(plan.attack) {
		got = append(got, <-done)
	}
	count := map[string]int{}
	for _, err := range got {
		count[status.Code(err).String()]++
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%d %s", count[code], code))
	}
	a.note = fmt.Sprintf("%s's %d volumes: %s", attackerPod.Namespace, len(plan.attack), strings.Join(parts, ", "))
	return a
}

func mountOnce(ctx context.Context, client pb.CSIDriverProviderClient, req *pb.MountRequest, deadline time.Duration) hostileAnswer {
	mctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	_, err := client.Mount(mctx, req)
	return hostileAnswer{err: err, elapsed: time.Since(start)}
}

// hostileRequest is the driver's Mount request for pod whose class has
// params on top of a one-object default, with a driver token for vault.
func hostileRequest(pod csitest.Pod, params map[string]string) (*pb.MountRequest, error) {
	attrs := map[string]string{
		spc.KeyRoleName:  "attacker",
		spc.KeyAuthMount: "jwt",
		spc.KeyObjects:   "- objectName: x\n  secretPath: secret/data/x\n  secretKey: k\n",
	}
	maps.Copy(attrs, params)
	return csitest.Request{
		Pod:        pod,
		Params:     attrs,
		Tokens:     map[string]csitest.Token{"vault": {Token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", Expiration: time.Now().Add(time.Hour)}},
		TargetPath: os.TempDir(),
	}.Build()
}
