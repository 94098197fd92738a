// Package vfs is the file-system seam of the storage layer: the handful of file operations the
// partition log needs, with one real implementation (OS, for the product) and one crashable
// in-memory implementation (CrashFS, for crash tests and the simulation only).
//
// The seam exists so that tests can lose exactly what was not made durable: data written but not
// synced, and directory entries (creates, renames, removes) not followed by SyncDir.
package vfs

import (
	"errors"
	"io"
	"os"
)

// FS is the set of file-system operations the storage layer uses. Paths are OS paths; every
// method may be called from any goroutine.
type FS interface {
	// OpenFile opens or creates a file, with the flags of os.OpenFile (O_RDWR, O_CREATE, O_EXCL,
	// O_TRUNC, O_APPEND are the ones storage uses).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove deletes a file. Durable only after SyncDir of its directory.
	Remove(name string) error
	// Rename atomically replaces newname with oldname. Durable only after SyncDir of the directory.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents. A new directory is durable only after SyncDir
	// of its parent, like any other directory entry.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names (not paths) of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// SyncDir makes the directory's entries durable (fsync on the directory).
	SyncDir(dir string) error
	// Lock takes an exclusive lock named by the file name (created if missing) without waiting:
	// ErrLocked when another holder has it. The lock is released by closing the returned Closer,
	// or when the process ends.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is returned by Lock when the lock is held by someone else.
var ErrLocked = errors.New("vfs: locked by another holder")

// File is an open file. ReadAt may be called concurrently with everything else; the other
// methods are called by one goroutine at a time, except Sync, which may run concurrently with
// Write (group commit syncs while the next batch is written).
type File interface {
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes everything written so far durable (fdatasync on Linux).
	Sync() error
	// Truncate changes the size of the file. Durable only after Sync.
	Truncate(size int64) error
	// Size returns the current size of the file.
	Size() (int64, error)
	// Name returns the name the file was opened with.
	Name() string
}
