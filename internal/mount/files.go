package mount

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// ErrMountTooLarge: the files of one mount exceed -max-mount-bytes, which
// keeps the response within what the driver's gRPC client accepts.
var ErrMountTooLarge = errors.New("mount too large")

// fileOverhead is what the response spends on one file besides its bytes:
// the mode and the protobuf tags and lengths of the file and its version.
const fileOverhead = 32

// checkSize fails a result whose response would exceed limit bytes, naming
// the largest objects and their sizes (never their content).
func checkSize(res *Result, limit int) error {
	all := make([]sized, len(res.Files))
	for i, f := range res.Files {
		// The path is sent twice: as the file's and as its version's ID.
		all[i] = sized{f.Path, len(f.Contents) + 2*len(f.Path) + len(f.Version) + fileOverhead}
	}
	return checkSizes(all, 0, limit)
}

// sized is one file's share of the response.
type sized struct {
	name string
	size int
}

// versionBytes is the length of a version: SHA-256 in hex.
const versionBytes = 2 * sha256.Size

// sizeOf is what a rendered file will cost in the response.
func sizeOf(f rendered) sized {
	return sized{f.path, len(f.contents) + 2*len(f.path) + versionBytes + fileOverhead}
}

// checkSizes fails files whose total, with held bytes decoded for
// templates alone, exceeds limit bytes.
func checkSizes(all []sized, held, limit int) error {
	total := held
	for _, f := range all {
		total += f.size
	}
	if total <= limit {
		return nil
	}
	slices.SortStableFunc(all, func(a, b sized) int { return cmp.Compare(b.size, a.size) })
	const listed = 5
	var names []string
	for _, o := range all[:min(listed, len(all))] {
		names = append(names, fmt.Sprintf("%s (%d bytes)", spc.Quote(o.name), o.size))
	}
	if len(all) > listed {
		names = append(names, fmt.Sprintf("and %d more", len(all)-listed))
	}
	if held > 0 {
		names = append(names, fmt.Sprintf("and %d bytes decoded for templates", held))
	}
	return fmt.Errorf("%w: the files total %d bytes, above the limit of %d bytes (%s; the driver accepts 4 MiB unless its "+
		"--max-call-recv-msg-size is raised); largest objects: %s: mount fewer or smaller objects per volume",
		ErrMountTooLarge, total, limit, spc.FlagMaxMountBytes, strings.Join(names, ", "))
}

// checkFiles catches files that collide once the keys of keysAsFiles
// objects are known: the same path twice, or a file where another needs a
// directory. Known names were checked when the class was parsed.
func checkFiles(files []File) error {
	byPath := make(map[string]bool, len(files))
	for _, f := range files {
		if byPath[f.Path] {
			return fmt.Errorf("%w: two objects write %s: rename one of them", ErrFileConflict, spc.Quote(f.Path))
		}
		byPath[f.Path] = true
	}
	for _, f := range files {
		for i := 0; i < len(f.Path); i++ {
			if f.Path[i] == '/' && byPath[f.Path[:i]] {
				return fmt.Errorf("%w: file %s needs %s to be a directory, but another object writes a file there: rename one of them",
					ErrFileConflict, spc.Quote(f.Path), spc.Quote(f.Path[:i]))
			}
		}
	}
	return nil
}
