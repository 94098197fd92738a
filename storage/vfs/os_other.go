//go:build !linux

package vfs

import "os"

// datasync falls back to os.File.Sync where fdatasync is not available (it uses F_FULLFSYNC on
// macOS, which is what durability needs there).
func datasync(f *os.File) error { return f.Sync() }
