package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	// entrypoint is where the provider binary sits in the image.
	entrypoint = "/vault-csi-provider"
	// caFile is the first place Go's crypto/x509 looks for system roots on
	// Linux.
	caFile = "etc/ssl/certs/ca-certificates.crt"
	// nonRoot is the image's default user, numeric so that kubelet can
	// check runAsNonRoot without an /etc/passwd (the distroless "nonroot"
	// uid). The chart and the kustomize base run the provider as this user;
	// only their prepare-dir init container runs as root (CHOWN alone).
	nonRoot = "65532:65532"
)

// Labels and annotations (OCI image spec, annotations.md).
const (
	labelSource   = "org.opencontainers.image.source"
	labelRevision = "org.opencontainers.image.revision"
	labelVersion  = "org.opencontainers.image.version"
	labelCreated  = "org.opencontainers.image.created"
	labelTitle    = "org.opencontainers.image.title"
	labelDesc     = "org.opencontainers.image.description"
	labelRefName  = "org.opencontainers.image.ref.name"
)

// spec is what the image is built from.
type spec struct {
	// binaries maps a platform ("linux/amd64") to the provider binary built
	// for it (static: CGO_ENABLED=0).
	binaries map[string][]byte
	version  string
	revision string
	source   string
	// created is the time of every file, history entry and the config's
	// created field: the commit's time (SOURCE_DATE_EPOCH), so that a
	// commit always gives the same digests.
	created time.Time
}

func (s spec) labels() map[string]string {
	return map[string]string{
		labelSource:   s.source,
		labelRevision: s.revision,
		labelVersion:  s.version,
		labelCreated:  s.created.UTC().Format(time.RFC3339),
		labelTitle:    "vault-csi-provider",
		labelDesc:     "HashiCorp Vault provider for the Kubernetes Secrets Store CSI driver",
	}
}

// caBundle is the PEM bundle of the Mozilla NSS roots that
// golang.org/x/crypto/x509roots/fallback vendors: pinned by tools/image's
// go.sum, so the image does not depend on the build machine's CA
// certificates. Roots that NSS trusts only with a constraint (a
// distrust-after date) are left out: a PEM file cannot carry the constraint,
// and trusting them without it would accept certificates NSS rejects.
func caBundle() ([]byte, int, error) {
	var out []byte
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if _, err := x509.ParseCertificate(r.Certificate); err != nil {
			return nil, 0, fmt.Errorf("CA bundle: %w", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})...)
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("CA bundle: no roots")
	}
	return out, n, nil
}

// buildIndex is the multi-platform OCI image index: one image per binary,
// each of two layers, the CA bundle (the same blob on every platform) and
// the binary.
func buildIndex(s spec) (v1.ImageIndex, error) {
	if len(s.binaries) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	ca, _, err := caBundle()
	if err != nil {
		return nil, err
	}
	caLayer, err := newLayer([]file{{name: caFile, mode: 0o644, data: ca}}, s.created)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, p := range slices.Sorted(maps.Keys(s.binaries)) {
		platform, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		img, err := buildImage(s, *platform, caLayer, s.binaries[p])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType:   types.OCIManifestSchema1,
				Platform:    platform,
				Annotations: s.labels(),
			},
		})
	}
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, s.labels()).(v1.ImageIndex), nil
}

func buildImage(s spec, platform v1.Platform, caLayer v1.Layer, binary []byte) (v1.Image, error) {
	binLayer, err := newLayer([]file{{name: entrypoint[1:], mode: 0o755, data: binary}}, s.created)
	if err != nil {
		return nil, err
	}
	at := v1.Time{Time: s.created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: caLayer, MediaType: types.OCILayer, History: v1.History{
			Created: at, CreatedBy: "tools/image: " + caFile + " (Mozilla NSS roots, golang.org/x/crypto/x509roots/fallback)"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{
			Created: at, CreatedBy: "tools/image: " + entrypoint + " (CGO_ENABLED=0 go build -trimpath ./cmd/provider)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Created = at
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       nonRoot,
		WorkingDir: "/",
		Labels:     s.labels(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, s.labels()).(v1.Image), nil
}
