package policy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// File is a policy read from a file and read again on Reload. It keeps the
// last policy that parsed: a file broken while the provider runs leaves
// that one in force, so an admin's typo never opens the node.
type File struct {
	path    string
	current atomic.Pointer[Policy]
	// mu serialises Reload; last is the content Current was parsed from.
	mu   sync.Mutex
	last []byte
}

// Open reads and parses the policy at path; an error here should stop a
// starting provider.
func Open(path string) (*File, error) {
	f := &File{path: path}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the file's path, for messages.
func (f *File) Path() string { return f.path }

// Current is the policy in force.
func (f *File) Current() *Policy { return f.current.Load() }

// Reload reads the file again. changed reports whether a new policy is now
// in force; on an error the last good policy stays.
func (f *File) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := readBounded(f.path)
	if err != nil {
		return false, err
	}
	if f.last != nil && bytes.Equal(data, f.last) {
		return false, nil
	}
	p, err := Parse(data)
	if err != nil {
		return false, fmt.Errorf("policy file %s: %w", f.path, err)
	}
	f.current.Store(p)
	f.last = data
	return true, nil
}

// readBounded reads at most MaxPolicyBytes+1 bytes, enough for Parse to
// refuse a larger file without holding it.
func readBounded(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return data, nil
}
