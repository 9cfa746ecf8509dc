package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"
	"time"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

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
	exp := time.Now().Add(tokenTTL).UTC().Format(time.RFC3339)
	for i := range reqs {
		name := fmt.Sprintf("%s-%04d", prefix, i)
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012d", tag, i)
		sa := "sa-" + name
		jwt, err := issuer.ServiceAccountToken(benchNamespace, sa, name, uid, "vault", tokenTTL)
		if err != nil {
			return nil, err
		}
		tokens, err := json.Marshal(map[string]any{"vault": map[string]string{"token": jwt, "expirationTimestamp": exp}})
		if err != nil {
			return nil, err
		}
		attrs := map[string]string{
			"roleName":                                 benchRole,
			"vaultAddress":                             vaultAddr,
			"vaultAuthMountPath":                       "jwt",
			"objects":                                  objects,
			"csi.storage.k8s.io/pod.name":              name,
			"csi.storage.k8s.io/pod.namespace":         benchNamespace,
			"csi.storage.k8s.io/pod.uid":               uid,
			"csi.storage.k8s.io/serviceAccount.name":   sa,
			"csi.storage.k8s.io/serviceAccount.tokens": string(tokens),
			"csi.storage.k8s.io/ephemeral":             "false",
			"secretProviderClass":                      prefix,
		}
		maps.Copy(attrs, params)
		js, err := json.Marshal(attrs)
		if err != nil {
			return nil, err
		}
		reqs[i] = &pb.MountRequest{Attributes: string(js), Secrets: "null", Permission: "420",
			TargetPath: "/var/lib/kubelet/pods/" + uid + "/volumes/kubernetes.io~csi/secrets/mount"}
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
