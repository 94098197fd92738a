//go:build !linux

package vfs

import (
	"io"
	"os"
)

// datasync falls back to os.File.Sync where fdatasync is not available (it uses F_FULLFSYNC on
// macOS, which is what durability needs there).
func datasync(f *os.File) error { return f.Sync() }

// Lock on systems without flock creates the file and does not exclude other processes.
// NB(shoal): only Linux is supported for production; this keeps the package building elsewhere.
func (osFS) Lock(name string) (io.Closer, error) {
	return os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
}
