// Package accounttest measures allocations, for the tests that check a
// charge covers what the charged code really allocates.
package accounttest

import "runtime"

// Allocated is what f allocates, garbage included, after a collection so
// that nothing earlier is counted.
func Allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}
