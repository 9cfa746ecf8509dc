package mount

import (
	"context"
	"log/slog"
	"slices"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// warnUnsyncable logs, for a Mount of the sync controller, the objects
// whose files no SecretSync sourcePath can name (nested objectNames,
// keysAsFiles directories). The Mount still succeeds: the driver may use
// the same class with a volume.
func (s *Service) warnUnsyncable(ctx context.Context, files []File) {
	var objects []string
	for _, f := range files {
		if !spc.Syncable(f.Path) && !slices.Contains(objects, f.Object) {
			objects = append(objects, f.Object)
		}
	}
	if len(objects) > 0 {
		s.opts.Metrics.SyncUnnameable.Add(float64(len(objects)))
		s.opts.Logger.WarnContext(ctx, "sync controller: no sourcePath can name these objects' files; use a flat objectName without keysAsFiles",
			slog.Any("objects", objects))
	}
}
