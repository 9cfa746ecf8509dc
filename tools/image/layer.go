package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A file of a layer: a regular file with its contents and mode. Its parent
// directories are added to the layer as 0755.
type file struct {
	name string // relative, slash-separated, e.g. etc/ssl/certs/ca-certificates.crt
	mode int64
	data []byte
}

// layerTar is the uncompressed tar of files, byte for byte the same for the
// same files and time: entries sorted by name, every directory listed before
// its contents, owner root (0:0, no names), mtime at, and the USTAR format
// (no PAX records, no access or change times).
func layerTar(files []file, at time.Time) ([]byte, error) {
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	entries := map[string]entry{}
	for _, f := range files {
		if f.name == "" || path.IsAbs(f.name) || path.Clean(f.name) != f.name {
			return nil, fmt.Errorf("layer file %q: want a clean relative path", f.name)
		}
		if _, dup := entries[f.name]; dup {
			return nil, fmt.Errorf("layer file %q: listed twice", f.name)
		}
		entries[f.name] = entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}, data: f.data}
		for dir := path.Dir(f.name); dir != "."; dir = path.Dir(dir) {
			name := dir + "/"
			if _, ok := entries[name]; !ok {
				entries[name] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // "etc/" sorts before "etc/ssl/": parents first

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.ModTime = at
		e.hdr.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, fmt.Errorf("layer file %q: %w", n, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer file %q: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newLayer is an OCI gzip layer of files. The gzip stream has no name and no
// time in its header, and a fixed level, so the same files give the same
// digest.
func newLayer(files []file, at time.Time) (v1.Layer, error) {
	b, err := layerTar(files, at)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
}
