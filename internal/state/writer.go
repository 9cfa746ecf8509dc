package state

import (
	"context"
	"log/slog"
	"time"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/lease"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/stale"
)

// DefaultDelay is how long the writer lets changes gather before it writes
// them: a burst of mounts makes one write, and a SIGKILL loses at most the
// changes of this long.
const DefaultDelay = 500 * time.Millisecond

// Sources are the caches the file keeps; nil ones are left out.
type Sources struct {
	Auth   *auth.Authenticator
	Leases *lease.Cache
	Stale  *stale.Cache
}

// changes sums the sources' change counters: any change moves it.
func (s Sources) changes() uint64 {
	var n uint64
	if s.Auth != nil {
		n += s.Auth.Changes()
	}
	if s.Leases != nil {
		n += s.Leases.Changes()
	}
	if s.Stale != nil {
		n += s.Stale.Changes()
	}
	return n
}

// Snapshot takes what the sources hold now.
func (s Sources) Snapshot(now time.Time) *Snapshot {
	snap := &Snapshot{Written: now}
	if s.Auth != nil {
		snap.Tokens = s.Auth.Save()
	}
	if s.Leases != nil {
		snap.Leases = s.Leases.Save()
	}
	if s.Stale != nil {
		snap.Stale = s.Stale.Save()
	}
	return snap
}

// Restored counts what Restore kept.
type Restored struct {
	Tokens, Leases, Certificates, Stale int
}

// Restore puts a snapshot back into the sources, leaving out what has
// ended by now.
func (s Sources) Restore(snap *Snapshot) Restored {
	var r Restored
	if s.Auth != nil {
		r.Tokens = s.Auth.Restore(snap.Tokens)
	}
	if s.Leases != nil {
		r.Leases, r.Certificates = s.Leases.Restore(snap.Leases)
	}
	if s.Stale != nil {
		r.Stale = s.Stale.Restore(snap.Stale)
	}
	return r
}

// Writer writes the sources' state to Path when it changes.
type Writer struct {
	Path    string
	Key     []byte
	Max     int
	Sources Sources
	// Delay is how long changes gather before a write; 0: DefaultDelay.
	Delay   time.Duration
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Run writes at its first tick and after each change, at most once per
// Delay, until ctx ends, then writes once more if anything changed. A
// write that takes long
// spaces the next ones out to ten times its duration, so the writer takes
// at most a tenth of a core whatever the state's size and the mounts'
// pace. Failures are logged and counted; the next change tries again.
func (w *Writer) Run(ctx context.Context) error {
	delay := w.Delay
	if delay <= 0 {
		delay = DefaultDelay
	}
	// The first tick writes what there is: the state restored at start,
	// without what had ended.
	written := ^w.Sources.changes()
	var next time.Time
	tick := time.NewTicker(delay)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if w.Sources.changes() != written {
				w.write()
			}
			return nil
		case now := <-tick.C:
			if now.Before(next) {
				continue
			}
		}
		if n := w.Sources.changes(); n != written {
			// Counted before the snapshot: a change made while it is taken
			// is written next time.
			written = n
			began := time.Now()
			w.write()
			next = began.Add(10 * time.Since(began))
		}
	}
}

// Write writes the state now.
func (w *Writer) Write() error { return w.write() }

func (w *Writer) write() error {
	b, left, err := Encode(w.Sources.Snapshot(time.Now()), w.Key, w.Max)
	if err == nil {
		err = WriteFile(w.Path, b)
	}
	if err != nil {
		w.Metrics.StateWrites.WithLabelValues("error").Inc()
		w.Logger.Warn("state file not written", "file", w.Path, "error", err)
		return err
	}
	w.Metrics.StateWrites.WithLabelValues("ok").Inc()
	w.Metrics.StateFileBytes.Set(float64(len(b)))
	if left > 0 {
		w.Metrics.StateLeftOut.Add(float64(left))
		w.Logger.Debug("state file full: least recently used entries left out", "file", w.Path, "left_out", left, "max_state_bytes", w.Max)
	}
	return nil
}
