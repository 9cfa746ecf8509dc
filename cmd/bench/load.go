package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"
	"time"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

const (
	benchNamespace = "bench"
	benchRole      = "bench"
	tokenTTL       = time.Hour
)

// newRequests builds the MountRequest the driver sends for each of n pods
// named prefix-NNNN: the class's parameters (objects, and params over the
// bench's own), the pod keys, and a signed service-account token for the
// audience "vault". Each pod has its own UID and service account; the same
// request is sent again on republish.
func newRequests(issuer *vaulttest.JWTIssuer, vaultAddr, prefix, objects string, params map[string]string, n int) ([]*pb.MountRequest, error) {
	reqs := make([]*pb.MountRequest, n)
	h := fnv.New32a()
	h.Write([]byte(prefix))
	tag := h.Sum32() // keeps UIDs of different scenarios apart
	exp := time.Now().Add(tokenTTL)
	for i := range reqs {
		name := fmt.Sprintf("%s-%04d", prefix, i)
		pod := csitest.Pod{Name: name, Namespace: benchNamespace, UID: fmt.Sprintf("%08x-0000-4000-8000-%012d", tag, i), ServiceAccount: "sa-" + name}
		jwt, err := issuer.ServiceAccountToken(pod.Namespace, pod.ServiceAccount, name, pod.UID, "vault", tokenTTL)
		if err != nil {
			return nil, err
		}
		attrs := map[string]string{
			spc.KeyRoleName:                benchRole,
			spc.KeyVaultAddress:            vaultAddr,
			spc.KeyAuthMount:               "jwt",
			spc.KeyObjects:                 objects,
			"csi.storage.k8s.io/ephemeral": "false",
			"secretProviderClass":          prefix,
		}
		maps.Copy(attrs, params)
		reqs[i], err = csitest.Request{Pod: pod, Params: attrs,
			Tokens: map[string]csitest.Token{"vault": {Token: jwt, Expiration: exp}}}.Build()
		if err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

// mountFailure is one failed Mount: the pod and the gRPC error.
type mountFailure struct {
	pod int
	err error
}

// loadResult is what one pass of mounts measured.
type loadResult struct {
	latencies []time.Duration
	elapsed   time.Duration
	failures  []mountFailure
}

// mountAll sends every request once, at most conc at a time (0: all at
// once), each with its own deadline, and checks that each response has
// wantFiles files, each with a version.
func mountAll(ctx context.Context, client pb.CSIDriverProviderClient, reqs []*pb.MountRequest, conc, wantFiles int, timeout time.Duration) loadResult {
	if conc <= 0 || conc > len(reqs) {
		conc = len(reqs)
	}
	lat := make([]time.Duration, len(reqs))
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i, req := range reqs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			lat[i], errs[i] = mountOne(ctx, client, req, wantFiles, timeout)
		}()
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start)}
	for i, err := range errs {
		if err != nil {
			res.failures = append(res.failures, mountFailure{pod: i, err: err})
			continue
		}
		res.latencies = append(res.latencies, lat[i])
	}
	return res
}

func mountOne(ctx context.Context, client pb.CSIDriverProviderClient, req *pb.MountRequest, wantFiles int, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	resp, err := client.Mount(ctx, req)
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if len(resp.Files) != wantFiles || len(resp.ObjectVersion) != wantFiles {
		return d, fmt.Errorf("got %d files and %d versions, want %d", len(resp.Files), len(resp.ObjectVersion), wantFiles)
	}
	return d, nil
}
