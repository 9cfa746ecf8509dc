package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

var epoch = time.Unix(1700000000, 0).UTC()

func TestLayerTarIsCanonical(t *testing.T) {
	a := []file{{name: "b/x", mode: 0o755, data: []byte("x")}, {name: "a/y/z", mode: 0o644, data: []byte("zz")}}
	b := []file{a[1], a[0]}
	ta, err := layerTar(a, epoch)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := layerTar(b, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ta, tb) {
		t.Error("the order of the files changed the tar")
	}
	var names []string
	eachEntry(t, bytes.NewReader(ta), func(h *tar.Header, _ io.Reader) {
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d %q %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		if h.Typeflag == tar.TypeDir && h.Mode != 0o755 {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
	})
	if got, want := strings.Join(names, " "), "a/ a/y/ a/y/z b/ b/x"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b"} {
		if _, err := layerTar([]file{{name: bad}}, epoch); err == nil {
			t.Errorf("layerTar accepted %q", bad)
		}
	}
}

func testSpec() spec {
	return spec{
		binaries: map[string][]byte{"linux/amd64": []byte("amd64 binary"), "linux/arm64": []byte("arm64 binary")},
		version:  "1.2.3", revision: "abc123", source: "https://example.com/repo", created: epoch,
	}
}

func TestBuildIndexReproducible(t *testing.T) {
	digest := func(s spec) v1.Hash {
		t.Helper()
		idx, err := buildIndex(s)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, second := digest(testSpec()), digest(testSpec())
	if first != second {
		t.Errorf("same inputs, two digests: %s, %s", first, second)
	}
	later := testSpec()
	later.created = epoch.Add(time.Second)
	if digest(later) == first {
		t.Error("another time gave the same digest")
	}
	other := testSpec()
	other.revision = "def456"
	if digest(other) == first {
		t.Error("another revision gave the same digest")
	}
}

func TestBuildIndexImages(t *testing.T) {
	idx, err := buildIndex(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(im.Manifests))
	}
	var caLayers []v1.Hash
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.OS + "/" + cf.Architecture; got != d.Platform.String() {
			t.Errorf("config platform %s, index says %s", got, d.Platform)
		}
		checkConfig(t, cf, "1.2.3", "abc123", "https://example.com/repo")
		if !cf.Created.Equal(epoch) {
			t.Errorf("%s: created %v", d.Platform, cf.Created)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 2 {
			t.Fatalf("%s: %d layers", d.Platform, len(layers))
		}
		h, _ := layers[0].Digest()
		caLayers = append(caLayers, h)
	}
	if caLayers[0] != caLayers[1] {
		t.Errorf("the CA layer differs between platforms: %v", caLayers)
	}
}

// checkConfig checks what every image of ours has: the entrypoint, the
// non-root user and the OCI labels.
func checkConfig(t *testing.T, cf *v1.ConfigFile, version, revision, source string) {
	t.Helper()
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/vault-csi-provider" || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	for k, want := range map[string]string{labelVersion: version, labelRevision: revision, labelSource: source} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

func TestCABundle(t *testing.T) {
	pemBytes, n, err := caBundle()
	if err != nil {
		t.Fatal(err)
	}
	total, constrained := 0, 0
	for r := range bundle.Roots() {
		total++
		if r.Constraint != nil {
			constrained++
		}
	}
	if n != total-constrained || n < 100 {
		t.Errorf("%d roots in the bundle; NSS has %d, %d of them constrained", n, total, constrained)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("the bundle does not parse as PEM")
	}
}

func TestParseFlagsReportsEveryProblem(t *testing.T) {
	_, err := parseFlags([]string{"-ref", "Bad Ref", "-source-date-epoch", "-1"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"-binary", "-layout or -tar", "-version", "-revision", "-source", "-ref", "-source-date-epoch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	_, err = parseFlags([]string{"-binary", "linux/arm64=x", "-tar", "t", "-tar-platform", "linux/amd64",
		"-version", "1", "-revision", "r", "-source", "s"})
	if err == nil || !strings.Contains(err.Error(), "no -binary for it") {
		t.Errorf("tar platform without binary: %v", err)
	}
}

// eachEntry calls fn with each entry of the tar stream r and its content.
func eachEntry(t *testing.T, r io.Reader, fn func(h *tar.Header, content io.Reader)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(h, tr)
	}
}
