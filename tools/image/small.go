package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The small images of the one-node cluster (test/node): static binaries in
// one layer, written as a docker-save tarball for `ctr images import`.
//
//	image-tool small -ref NAME:TAG -tar OUT -file /DEST=SRC... -entrypoint /DEST [-user UID:GID]
type smallOptions struct {
	ref        string
	tarPath    string
	files      map[string]string // destination in the image -> source on this machine
	entrypoint string
	user       string
	platform   string
	epoch      int64
}

func parseSmallFlags(args []string) (smallOptions, error) {
	o := smallOptions{files: map[string]string{}}
	fs := flag.NewFlagSet("image small", flag.ContinueOnError)
	fs.StringVar(&o.ref, "ref", "", "the image's name and tag")
	fs.StringVar(&o.tarPath, "tar", "", "docker-save tarball to write")
	fs.Var(smallFiles(o.files), "file", "`/DEST=SRC`: a file of this machine at DEST in the image (mode 0755); repeat")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "the image's entrypoint, one of the -file destinations")
	fs.StringVar(&o.user, "user", "", "the image's default user (UID:GID), root when empty")
	fs.StringVar(&o.platform, "platform", "linux/amd64", "the image's platform")
	fs.Int64Var(&o.epoch, "source-date-epoch", 0, "time of every file and of the image")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if _, err := name.NewTag(o.ref); err != nil {
		errs = append(errs, fmt.Errorf("-ref: %w", err))
	}
	if o.tarPath == "" {
		errs = append(errs, errors.New("-tar: empty"))
	}
	if len(o.files) == 0 {
		errs = append(errs, errors.New("-file: at least one"))
	}
	if _, ok := o.files[o.entrypoint]; !ok {
		errs = append(errs, fmt.Errorf("-entrypoint %q: not a -file destination", o.entrypoint))
	}
	if _, err := v1.ParsePlatform(o.platform); err != nil {
		errs = append(errs, fmt.Errorf("-platform: %w", err))
	}
	return o, errors.Join(errs...)
}

type smallFiles map[string]string

func (f smallFiles) String() string { return fmt.Sprint(map[string]string(f)) }
func (f smallFiles) Set(v string) error {
	dest, src, ok := strings.Cut(v, "=")
	if !ok || !path.IsAbs(dest) || path.Clean(dest) != dest || dest == "/" || src == "" {
		return fmt.Errorf("want /DEST=SRC with a clean absolute DEST, got %q", v)
	}
	if _, dup := f[dest]; dup {
		return fmt.Errorf("%s: listed twice", dest)
	}
	f[dest] = src
	return nil
}

func runSmall(args []string, stdout io.Writer) error {
	o, err := parseSmallFlags(args)
	if err != nil {
		return err
	}
	at := time.Unix(o.epoch, 0).UTC()
	var files []file
	for dest, src := range o.files {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files = append(files, file{name: dest[1:], mode: 0o755, data: b})
	}
	layer, err := newLayer(files, at)
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: at}, CreatedBy: "tools/image small"}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	platform, _ := v1.ParsePlatform(o.platform) // checked in parseSmallFlags
	cf.OS, cf.Architecture = platform.OS, platform.Architecture
	cf.Created = v1.Time{Time: at}
	cf.Config = v1.Config{Entrypoint: []string{o.entrypoint}, User: o.user, WorkingDir: "/",
		Env: []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, _ := name.NewTag(o.ref) // checked in parseSmallFlags
	if err := tarball.WriteToFile(o.tarPath, tag, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s  %s (%s)\n", d, o.ref, o.tarPath)
	return nil
}
