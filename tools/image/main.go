// Command image builds the provider's OCI image without a container daemon:
// a multi-platform OCI image layout (an index of one image per platform) and
// a docker-save tarball of one of its platforms, which `docker load`,
// `kind load image-archive` and `ctr images import` read.
//
// The image is the static provider binary at /vault-csi-provider (its
// entrypoint), the Mozilla NSS roots at /etc/ssl/certs/ca-certificates.crt
// and nothing else: no shell, no /etc/passwd. `make image` cross-compiles
// the binaries and runs this; see the Makefile.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	run := run
	if len(os.Args) > 1 && os.Args[1] == "small" {
		run = func(args []string, stdout io.Writer) error { return runSmall(args[1:], stdout) }
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

type options struct {
	binaries    map[string]string // platform -> path
	layoutDir   string
	tarPath     string
	tarPlatform string
	ref         string
	version     string
	revision    string
	source      string
	epoch       int64
}

// binaryFlags reads repeated -binary PLATFORM=PATH.
type binaryFlags map[string]string

func (b binaryFlags) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binaryFlags) Set(v string) error {
	p, file, ok := strings.Cut(v, "=")
	if !ok || p == "" || file == "" {
		return fmt.Errorf("want PLATFORM=PATH, got %q", v)
	}
	b[p] = file
	return nil
}

func parseFlags(args []string) (options, error) {
	o := options{binaries: map[string]string{}}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.Var(binaryFlags(o.binaries), "binary", "`PLATFORM=PATH`: the provider built for a platform (linux/amd64=...); repeat for each")
	fs.StringVar(&o.layoutDir, "layout", "", "OCI image layout directory to write (replaced)")
	fs.StringVar(&o.tarPath, "tar", "", "docker-save tarball to write, of -tar-platform's image")
	fs.StringVar(&o.tarPlatform, "tar-platform", "linux/amd64", "the platform of the tarball's image")
	fs.StringVar(&o.ref, "ref", "vault-csi-provider:dev", "the image's name: the tarball's tag and the layout's ref.name annotation")
	fs.StringVar(&o.version, "version", "", "org.opencontainers.image.version")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision (the commit)")
	fs.StringVar(&o.source, "source", "", "org.opencontainers.image.source (the repository's URL)")
	fs.Int64Var(&o.epoch, "source-date-epoch", 0, "time of every file and of the image, in seconds since 1970 (the commit's time)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if len(o.binaries) == 0 {
		errs = append(errs, errors.New("-binary: at least one"))
	}
	if _, ok := o.binaries[o.tarPlatform]; o.tarPath != "" && !ok {
		errs = append(errs, fmt.Errorf("-tar-platform %s: no -binary for it", o.tarPlatform))
	}
	if o.layoutDir == "" && o.tarPath == "" {
		errs = append(errs, errors.New("-layout or -tar: nothing to write"))
	}
	for f, v := range map[string]string{"-version": o.version, "-revision": o.revision, "-source": o.source} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: empty", f))
		}
	}
	if _, err := name.NewTag(o.ref); err != nil {
		errs = append(errs, fmt.Errorf("-ref: %w", err))
	}
	if o.epoch < 0 {
		errs = append(errs, errors.New("-source-date-epoch: negative"))
	}
	return o, errors.Join(errs...)
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	s := spec{binaries: map[string][]byte{}, version: o.version, revision: o.revision, source: o.source,
		created: time.Unix(o.epoch, 0).UTC()}
	for p, file := range o.binaries {
		if s.binaries[p], err = os.ReadFile(file); err != nil {
			return err
		}
	}
	idx, err := buildIndex(s)
	if err != nil {
		return err
	}
	if o.layoutDir != "" {
		if err := writeLayout(o.layoutDir, idx, o.ref); err != nil {
			return err
		}
	}
	if o.tarPath != "" {
		img, err := platformImage(idx, o.tarPlatform)
		if err != nil {
			return err
		}
		tag, _ := name.NewTag(o.ref) // checked in parseFlags
		if err := tarball.WriteToFile(o.tarPath, tag, img); err != nil {
			return err
		}
	}
	return summary(stdout, idx, o)
}

// writeLayout replaces dir with an OCI image layout whose index.json names
// idx by ref (org.opencontainers.image.ref.name: the tag, as skopeo and
// crane read it).
func writeLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	tag, _ := name.NewTag(ref)
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		labelRefName:               tag.TagStr(),
		"io.containerd.image.name": containerdName(tag),
	}))
}

// containerdName is tag as containerd spells it: docker.io/library/NAME:TAG
// for a Docker Hub name, where go-containerregistry says index.docker.io.
func containerdName(tag name.Tag) string {
	reg := tag.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + tag.RepositoryStr() + ":" + tag.TagStr()
}

// platformImage is idx's image for platform ("linux/amd64").
func platformImage(idx v1.ImageIndex, platform string) (v1.Image, error) {
	want, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(*want) {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for %s", platform)
}

func summary(w io.Writer, idx v1.ImageIndex, o options) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "index       %s  %s (%s)\n", d, o.ref, o.layoutDir)
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return err
		}
		size, err := compressedSize(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-11s %s  %s MB compressed\n", m.Platform.String(), m.Digest, strconv.FormatFloat(float64(size)/1e6, 'f', 1, 64))
	}
	if o.tarPath != "" {
		fmt.Fprintf(w, "tarball     %s: %s, tag %s\n", o.tarPath, o.tarPlatform, o.ref)
	}
	return nil
}

func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}
