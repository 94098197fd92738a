package vfs

import (
	"os"
)

// OS returns the FS backed by the operating system's file system: the one the product uses.
//
// Errors are the os package's own (*os.PathError, *os.LinkError), which already name the
// operation and the path; wrapping them again would only repeat both. ReadAt in particular must
// return io.EOF unwrapped, as io.ReaderAt callers compare it with ==.
func OS() FS { return osFS{} }

// osFS is stateless: every method goes straight to the os package.
type osFS struct{}

// OpenFile opens name with os.OpenFile.
func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f: f}, nil
}

// Remove deletes name with os.Remove.
func (osFS) Remove(name string) error { return os.Remove(name) }

// Rename renames oldname to newname with os.Rename.
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll creates dir and its parents with os.MkdirAll.
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir lists the names in dir; os.ReadDir already sorts them.
func (osFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// SyncDir fsyncs dir, which is what makes creates, renames and removes in it durable.
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if syncErr != nil {
		return syncErr
	}
	return closeErr
}

// osFile wraps *os.File in a named field rather than embedding it, so that callers cannot reach
// methods (Seek, ReadFrom, Fd...) that CrashFS would not have.
type osFile struct {
	f *os.File
}

// ReadAt reads at off with pread; safe to call concurrently with everything else.
func (o osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

// Write writes at the current offset (or at the end with O_APPEND).
func (o osFile) Write(p []byte) (int, error) { return o.f.Write(p) }

// Close closes the file.
func (o osFile) Close() error { return o.f.Close() }

// Sync flushes the data, and only the metadata needed to read it back, to stable storage:
// fdatasync on Linux (see datasync), fsync elsewhere.
func (o osFile) Sync() error { return datasync(o.f) }

// Truncate changes the size of the file; the offset of the next Write does not move.
func (o osFile) Truncate(size int64) error { return o.f.Truncate(size) }

// Size returns the current size from fstat.
func (o osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Name returns the name the file was opened with.
func (o osFile) Name() string { return o.f.Name() }
