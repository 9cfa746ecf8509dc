package lease

import (
	"container/list"
	"encoding/json"
	"unsafe"

	"github.com/hashicorp/vault/api"
)

// The memory a kept entry takes, for 64-bit Go 1.26. The constants were
// measured with runtime.MemStats: HeapAlloc after two collections, before
// and after decoding thousands of copies of a response with
// api.ParseSecret and keeping them. Where the heap varies, the estimate
// takes its worst case, so that a bound on the estimate is a bound on the
// heap: TestEntryBytesBoundsTheHeap measures whole entries of ten shapes
// again and finds them counted at 1.0 to 1.75 times the heap they took
// (database credentials 2.7 KiB counted for 1.7 KiB taken, a leased
// certificate 8.9 for 7.1).
const (
	// boxBytes: a string or json.Number in an interface points to a
	// 16-byte header allocated on its own.
	boxBytes = 16
	// smallMapBytes: a map of up to 8 entries is a 48-byte header and one
	// group of 8 slots and their control bytes (264 bytes, allocated as
	// 288); {"k": true} measured 336 bytes beside its key.
	smallMapBytes = 48 + 288
	// slotFactor: a map slot (key, value and a control byte) takes up to
	// three times its size: tables double when 7/8 full, and group arrays
	// above 32 KiB take whole pages. map[string]any measured 41 to 91
	// bytes per 33-byte slot beside the keys, the worst at 449 and 897
	// entries, just past a doubling.
	slotFactor = 3
	// stringSlot is a map slot of a string key and a string or interface
	// value, with its control byte.
	stringSlot = 16 + 16 + 1
	// sliceFactor: a slice decoded by appending has up to twice the
	// capacity its elements need.
	sliceFactor = 2
	// pageBytes: allocations above 32 KiB take whole pages.
	pageBytes = 8 << 10
)

// These count what a kept entry holds, as measured, to bound the cache
// across mounts; a mount is charged for the same response by
// account.JSONBytes when it is decoded, a coarser bound that also covers
// what decoding leaves behind.

// entryBytes is the memory an entry for k keeps: its secret, its token,
// the key's strings and the cache's own structures for it.
func entryBytes(k Key, s *api.Secret, token string) int {
	return secretBytes(s) + stringBytes(token) + keyBytes(k) + entryOverhead()
}

// entryOverhead is the cache's own memory for one entry, with its pod's
// bookkeeping charged to each of the pod's entries: never less than it
// takes, and simpler than charging it to one of them.
func entryOverhead() int {
	return allocBytes(int(unsafe.Sizeof(Entry{}))) +
		slotFactor*int(unsafe.Sizeof(Key{})+unsafe.Sizeof((*Entry)(nil))+1) + // the slot in Cache.entries
		2*allocBytes(int(unsafe.Sizeof(list.Element{}))) + // in the node's and the pod's lists
		allocBytes(int(unsafe.Sizeof(podEntries{}))) +
		slotFactor*int(unsafe.Sizeof(podKey{})+unsafe.Sizeof((*podEntries)(nil))+1) // the slot in Cache.pods
}

// keyBytes counts the key's strings whole, though entries of one pod may
// share them: the request alone can be 64 KiB.
func keyBytes(k Key) int {
	n := stringBytes(k.PodUID)
	for _, s := range k.Strings() {
		n += stringBytes(s)
	}
	return n
}

// secretBytes is the memory of s as api.ParseSecret decodes it (numbers
// as json.Number).
func secretBytes(s *api.Secret) int {
	n := allocBytes(int(unsafe.Sizeof(*s))) + stringBytes(s.RequestID) + stringBytes(s.LeaseID) + stringBytes(s.MountType) +
		stringsBytes(s.Warnings) + mapBytes(s.Data)
	if a := s.Auth; a != nil {
		// MFARequirement is left out: it comes with a login, never a read.
		n += allocBytes(int(unsafe.Sizeof(*a))) + stringBytes(a.ClientToken) + stringBytes(a.Accessor) + stringBytes(a.EntityID) +
			stringsBytes(a.Policies) + stringsBytes(a.TokenPolicies) + stringsBytes(a.IdentityPolicies)
		if a.Metadata != nil {
			n += mapOverhead(len(a.Metadata))
		}
		for k, v := range a.Metadata {
			n += stringBytes(k) + stringBytes(v)
		}
	}
	if w := s.WrapInfo; w != nil {
		n += allocBytes(int(unsafe.Sizeof(*w))) + stringBytes(w.Token) + stringBytes(w.Accessor) + stringBytes(w.CreationPath) +
			stringBytes(w.WrappedAccessor)
	}
	return n
}

func mapBytes(m map[string]any) int {
	if m == nil {
		return 0
	}
	n := mapOverhead(len(m))
	for k, v := range m {
		n += stringBytes(k) + valueBytes(v)
	}
	return n
}

// mapOverhead is a map's header and slots, for string keys and string or
// interface values.
func mapOverhead(entries int) int {
	if entries <= 8 {
		return smallMapBytes
	}
	return smallMapBytes + entries*slotFactor*stringSlot
}

// valueBytes is the memory behind a decoded JSON value in an interface.
func valueBytes(v any) int {
	switch v := v.(type) {
	case nil, bool:
		return 0 // no allocation: the runtime's static values
	case string:
		return boxBytes + stringBytes(v)
	case json.Number:
		return boxBytes + stringBytes(string(v))
	case map[string]any:
		return mapBytes(v)
	case []any:
		n := allocBytes(int(unsafe.Sizeof(v))) + allocBytes(sliceFactor*len(v)*int(unsafe.Sizeof(any(nil))))
		for _, e := range v {
			n += valueBytes(e)
		}
		return n
	default:
		return boxBytes // a float64 from another decoder
	}
}

func stringsBytes(ss []string) int {
	n := allocBytes(sliceFactor * len(ss) * int(unsafe.Sizeof("")))
	for _, s := range ss {
		n += stringBytes(s)
	}
	return n
}

func stringBytes(s string) int { return allocBytes(len(s)) }

// allocBytes is what an allocation of n bytes takes. Up to 32 KiB Go
// rounds it up to a size class, by less than 3/16 of it plus 16 bytes
// (4097 bytes take 4864, the worst); above, to whole pages.
func allocBytes(n int) int {
	switch {
	case n <= 0:
		return 0
	case n <= 32<<10:
		return n + n*3/16 + 16
	default:
		return (n + pageBytes - 1) / pageBytes * pageBytes
	}
}

// SecretBytes is the memory s keeps as the Vault client decodes it, for
// the other caches that keep responses (internal/stale).
func SecretBytes(s *api.Secret) int {
	if s == nil {
		return 0
	}
	return secretBytes(s)
}
