package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// builtImage is the image `make image` wrote (IMAGE_LAYOUT) for this
// machine's platform. `make image-test` sets IMAGE_LAYOUT and the rest;
// without it there is no image to test.
func builtImage(t *testing.T) (v1.ImageIndex, v1.Image) {
	t.Helper()
	dir := os.Getenv("IMAGE_LAYOUT")
	if dir == "" {
		t.Skip("IMAGE_LAYOUT not set: run `make image-test`")
	}
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	om, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(om.Manifests) != 1 {
		t.Fatalf("%s/index.json: %d entries, want the one index", dir, len(om.Manifests))
	}
	idx, err := outer.ImageIndex(om.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := platformImage(idx, runtime.GOOS+"/"+runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	return idx, img
}

func TestBuiltImagePlatforms(t *testing.T) {
	idx, _ := builtImage(t)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		got = append(got, d.Platform.String())
	}
	if !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v, want linux/amd64 and linux/arm64", got)
	}
}

// TestBuiltImageRuns unpacks the image and runs its entrypoint with -version.
func TestBuiltImageRuns(t *testing.T) {
	_, img := builtImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	version, revision := os.Getenv("IMAGE_VERSION"), os.Getenv("IMAGE_REVISION")
	checkConfig(t, cf, version, revision, os.Getenv("IMAGE_SOURCE"))

	root := t.TempDir()
	files := unpack(t, img, root)
	want := []string{"etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt", "vault-csi-provider"}
	if !slices.Equal(files, want) {
		t.Errorf("image files %q, want %q (no shell, nothing else)", files, want)
	}

	entry := filepath.Join(root, cf.Config.Entrypoint[0])
	checkStatic(t, entry)
	out, err := exec.Command(entry, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -version: %v\n%s", cf.Config.Entrypoint[0], err, out)
	}
	t.Logf("%s -version: %s", cf.Config.Entrypoint[0], bytes.TrimSpace(out))
	wantOut := "vault-csi-provider " + version + " (commit " + revision + ", "
	if !strings.HasPrefix(string(out), wantOut) {
		t.Errorf("-version printed %q, want it to start with %q", out, wantOut)
	}

	pemBytes, err := os.ReadFile(filepath.Join(root, caFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(pemBytes), "BEGIN CERTIFICATE"); n < 100 || !x509.NewCertPool().AppendCertsFromPEM(pemBytes) {
		t.Errorf("%s: %d certificates", caFile, n)
	}
}

// unpack writes img's files under root and lists them, checking every entry is root's and nothing is world-writable.
func unpack(t *testing.T, img v1.Image, root string) []string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	var names []string
	eachEntry(t, rc, func(h *tar.Header, content io.Reader) {
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Mode&0o022 != 0 {
			t.Errorf("%s: owner %d:%d mode %o", h.Name, h.Uid, h.Gid, h.Mode)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("entry %q escapes the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(content)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode).Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: type %q, want files and directories only", h.Name, h.Typeflag)
		}
	})
	slices.Sort(names)
	return names
}

// checkStatic fails unless the ELF binary needs no dynamic loader or
// shared library: the image has none.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%v)", path, p.Type)
		}
	}
}

// TestBuiltTarball checks bin/image.tar: one image, the layout's image for
// IMAGE_TAR_PLATFORM, tagged.
func TestBuiltTarball(t *testing.T) {
	idx, _ := builtImage(t)
	path := os.Getenv("IMAGE_TAR")
	if path == "" {
		t.Skip("IMAGE_TAR not set")
	}
	want, err := platformImage(idx, os.Getenv("IMAGE_TAR_PLATFORM"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || !strings.HasPrefix(m[0].RepoTags[0], "vault-csi-provider:") {
		t.Fatalf("manifest.json %+v: want one image with one vault-csi-provider tag", m)
	}
	got, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The config (the image ID `docker images` shows) and the layers are the
	// layout's; only the manifest's media types differ in a docker tarball.
	for _, f := range []func(v1.Image) (v1.Hash, error){v1.Image.ConfigName, firstLayer, lastLayer} {
		g, err := f(got)
		if err != nil {
			t.Fatal(err)
		}
		w, err := f(want)
		if err != nil {
			t.Fatal(err)
		}
		if g != w {
			t.Errorf("tarball has %s, layout %s", g, w)
		}
	}
}

func firstLayer(img v1.Image) (v1.Hash, error) { return layerDigest(img, 0) }
func lastLayer(img v1.Image) (v1.Hash, error)  { return layerDigest(img, -1) }

func layerDigest(img v1.Image, i int) (v1.Hash, error) {
	ls, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	if i < 0 {
		i += len(ls)
	}
	return ls[i].Digest()
}
