package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// ErrStaleHandle is returned (inside an *os.PathError) by every method of a File opened before the
// last crash of its CrashFS. After a power loss no process holds the descriptors it had, so code
// that keeps using one is a test bug the real system would not allow.
var ErrStaleHandle = errors.New("vfs: file handle from before crash")

// CrashFS is an in-memory FS that can lose power. It tracks, for every file, the bytes written
// (what reads see) apart from the bytes as of its last Sync (what survives a crash), and, for every
// directory, its entries apart from its entries as of its last SyncDir. Crash throws away whatever
// was not made durable, exactly as a strict reading of POSIX allows:
//
//   - data written or truncated after the last File.Sync is lost;
//   - a create, rename or remove in a directory is lost unless SyncDir of that directory followed
//     it; this holds for directories made by MkdirAll too (SyncDir their parent), and File.Sync
//     does not make a new file's name durable;
//   - a file whose name is lost is lost with its data, even if that data was synced.
//
// Names are cleaned with filepath.Clean. There is one root, which always exists, and no working
// directory: "a/b" and "/a/b" are the same file. Permissions are ignored. OpenFile of a directory
// fails with EISDIR (the real system allows it read-only; storage uses SyncDir instead).
//
// All methods are safe for concurrent use; one mutex guards the whole file system.
type CrashFS struct {
	mu        sync.Mutex
	root      *node
	epoch     uint64 // bumped by every crash; handles from an older epoch are stale
	syncErr   error  // what the next syncFails File.Sync calls return
	syncFails int
	locks     map[string]*crashLock // held locks by cleaned name; a crash releases them all
}

// crashLock is a held Lock; Close releases it (once).
type crashLock struct {
	fs    *CrashFS
	name  string
	epoch uint64
}

// Lock takes the named lock, creating the file like the real one does. Locks live in the
// process, not on disk: a crash releases every lock, as a process's death releases its flocks.
func (c *CrashFS) Lock(name string) (io.Closer, error) {
	f, err := c.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	name = filepath.Clean(name)
	if c.locks == nil {
		c.locks = map[string]*crashLock{}
	}
	if _, held := c.locks[name]; held {
		return nil, &os.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	l := &crashLock{fs: c, name: name, epoch: c.epoch}
	c.locks[name] = l
	return l, nil
}

// Close releases the lock if it is still the one held under its name.
func (l *crashLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.fs.locks[l.name] == l {
		delete(l.fs.locks, l.name)
	}
	return nil
}

var _ FS = (*CrashFS)(nil)

// NewCrashFS returns an empty CrashFS holding only its root directory.
func NewCrashFS() *CrashFS { return &CrashFS{root: newDir()} }

// node is a file or a directory. Directory entries point to nodes, not to names, so that an open
// handle follows its file through renames and removes, as an inode does.
type node struct {
	isDir bool

	// Files. Invariant: data[:dirtyFrom] == synced[:dirtyFrom], so Sync copies only the suffix
	// that changed (appends stay O(appended bytes)). synced never shares memory with data.
	data      []byte
	synced    []byte
	dirtyFrom int

	// Directories.
	entries map[string]*node // what lookups see
	durable map[string]*node // as of the last SyncDir: what survives a crash
}

func newDir() *node {
	return &node{isDir: true, entries: map[string]*node{}, durable: map[string]*node{}}
}

// Crash simulates a power loss: every reachable file reverts to its contents as of its last Sync,
// every directory to its entries as of its last SyncDir, and every File opened so far becomes
// stale (see ErrStaleHandle). Injected faults stay armed.
func (c *CrashFS) Crash() { c.crash(nil) }

// CrashKeepingTail is Crash with torn writes: for each file whose only change since its last Sync
// was to grow (appends, or Truncate to a larger size), a prefix of the grown bytes, of a length
// drawn uniformly from rng (possibly zero or all), also survives, as when the disk flushed some
// pages of an append but not the rest. Only a prefix of bytes that were written survives, never
// garbage. A file that was overwritten or shrunk since its last Sync reverts entirely.
//
// Files are visited in sorted path order, so the same rng state gives the same outcome. A nil rng
// makes it the same as Crash.
func (c *CrashFS) CrashKeepingTail(rng *rand.Rand) { c.crash(rng) }

// InjectSyncError makes the next count calls to File.Sync, on any file, fail with err (wrapped in
// an *os.PathError, so errors.Is(got, err) holds) without making anything durable. The data stays
// written, and a later successful Sync makes it durable; Linux may instead drop it (the
// "fsyncgate" behaviour), so callers must treat a failed Sync as fatal, never retry it.
// SyncDir is not affected. A nil err or a count <= 0 disarms it.
func (c *CrashFS) InjectSyncError(err error, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || count <= 0 {
		c.syncErr, c.syncFails = nil, 0
		return
	}
	c.syncErr, c.syncFails = err, count
}

// OpenFile opens or creates name with the semantics of os.OpenFile for O_RDONLY, O_WRONLY,
// O_RDWR, O_CREATE, O_EXCL, O_TRUNC and O_APPEND. A created file is durable only after SyncDir of
// its directory; O_TRUNC is durable only after Sync.
func (c *CrashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.openNode(name, flag)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	access := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	return &crashFile{
		fs:       c,
		n:        n,
		name:     name,
		epoch:    c.epoch,
		canRead:  access != os.O_WRONLY,
		canWrite: access != os.O_RDONLY,
		appends:  flag&os.O_APPEND != 0,
	}, nil
}

func (c *CrashFS) openNode(name string, flag int) (*node, error) {
	dir, base, err := c.parentOf(name)
	if err != nil {
		return nil, err
	}
	n := dir.entries[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, fs.ErrNotExist
	case n == nil:
		n = &node{}
		dir.entries[base] = n
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, fs.ErrExist
	case n.isDir:
		return nil, syscall.EISDIR
	}
	if flag&os.O_TRUNC != 0 {
		n.truncate(0)
	}
	return n, nil
}

// Remove deletes a file or an empty directory. Durable only after SyncDir of its directory.
func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir, base, err := c.parentOf(name)
	if err == nil {
		switch n := dir.entries[base]; {
		case n == nil:
			err = fs.ErrNotExist
		case n.isDir && len(n.entries) > 0:
			err = syscall.ENOTEMPTY
		default:
			delete(dir.entries, base)
		}
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// Rename moves oldname to newname, replacing newname if it is a file, as os.Rename does (which
// refuses to replace a directory). Durable only after SyncDir of both directories; if only one of
// them is synced, a crash may leave the file under both names or under neither.
func (c *CrashFS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.rename(oldname, newname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (c *CrashFS) rename(oldname, newname string) error {
	oldDir, oldBase, err := c.parentOf(oldname)
	if err != nil {
		return err
	}
	newDir, newBase, err := c.parentOf(newname)
	if err != nil {
		return err
	}
	src, dst := oldDir.entries[oldBase], newDir.entries[newBase]
	oldPath, newPath := split(oldname), split(newname)
	switch {
	case src == nil:
		return fs.ErrNotExist
	case dst != nil && dst.isDir:
		return syscall.EEXIST
	case src == dst:
		return nil
	case src.isDir && dst != nil:
		return syscall.ENOTDIR
	case src.isDir && len(newPath) > len(oldPath) && slices.Equal(newPath[:len(oldPath)], oldPath):
		return syscall.EINVAL // a directory cannot move inside itself
	}
	delete(oldDir.entries, oldBase)
	newDir.entries[newBase] = src
	return nil
}

// MkdirAll creates dir and any missing parents. Each new directory is durable only after SyncDir
// of its parent.
func (c *CrashFS) MkdirAll(dir string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.root
	for _, comp := range split(dir) {
		next := n.entries[comp]
		if next == nil {
			next = newDir()
			n.entries[comp] = next
		}
		if !next.isDir {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = next
	}
	return nil
}

// ReadDir returns the sorted names of the current entries of dir, synced or not.
func (c *CrashFS) ReadDir(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.lookupDir(dir)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return slices.Sorted(maps.Keys(n.entries)), nil
}

// SyncDir makes the current entries of dir durable. It does not make dir's own entry in its
// parent durable, nor any file's data.
func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.lookupDir(dir)
	if err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	n.durable = maps.Clone(n.entries)
	return nil
}

func (c *CrashFS) crash(rng *rand.Rand) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.locks = nil // the process that held them is gone
	c.root.revert(rng, map[*node]bool{})
}

// revert puts n and everything durably reachable from it back to its durable state. seen guards
// against visiting a node twice: a rename synced on one side only can leave a node under two
// durable names, and directory renames can even make the durable entries form a cycle.
func (n *node) revert(rng *rand.Rand, seen map[*node]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	if !n.isDir {
		n.revertFile(rng)
		return
	}
	n.entries = maps.Clone(n.durable)
	for _, name := range slices.Sorted(maps.Keys(n.entries)) {
		n.entries[name].revert(rng, seen)
	}
}

// revertFile drops the unsynced changes of a file, keeping a random prefix of a grown tail when
// rng is set. What survives is on disk after the crash, so it all counts as synced.
func (n *node) revertFile(rng *rand.Rand) {
	kept := n.synced
	if rng != nil && n.dirtyFrom == len(n.synced) && len(n.data) > len(n.synced) {
		tail := n.data[len(n.synced):]
		kept = append(kept, tail[:rng.IntN(len(tail)+1)]...)
	}
	n.synced = kept
	n.data = bytes.Clone(kept)
	n.dirtyFrom = len(kept)
}

func (n *node) sync() {
	n.synced = append(n.synced[:n.dirtyFrom], n.data[n.dirtyFrom:]...)
	n.dirtyFrom = len(n.data)
}

// writeAt writes p at off, zero-filling any gap past the end as a sparse write does.
func (n *node) writeAt(p []byte, off int) {
	n.dirtyFrom = min(n.dirtyFrom, off, len(n.data))
	if end := off + len(p); end > len(n.data) {
		n.grow(end)
	}
	copy(n.data[off:], p)
}

func (n *node) truncate(size int) {
	n.dirtyFrom = min(n.dirtyFrom, size, len(n.data))
	if size <= len(n.data) {
		n.data = n.data[:size]
		return
	}
	n.grow(size)
}

// grow extends data with zeros to size. The zeros are written explicitly because the spare
// capacity may still hold bytes from before a shrinking Truncate.
func (n *node) grow(size int) {
	old := len(n.data)
	n.data = slices.Grow(n.data, size-old)[:size]
	clear(n.data[old:])
}

// split returns the components of the cleaned name below the root; nil for the root itself.
func split(name string) []string {
	sep := string(filepath.Separator)
	clean := filepath.Clean(sep + name)
	if clean == sep {
		return nil
	}
	return strings.Split(strings.TrimPrefix(clean, sep), sep)
}

// walk returns the node at path, or an error as the system would give it.
func (c *CrashFS) walk(path []string) (*node, error) {
	n := c.root
	for _, comp := range path {
		if !n.isDir {
			return nil, syscall.ENOTDIR
		}
		if n = n.entries[comp]; n == nil {
			return nil, fs.ErrNotExist
		}
	}
	return n, nil
}

func (c *CrashFS) lookupDir(name string) (*node, error) {
	n, err := c.walk(split(name))
	if err == nil && !n.isDir {
		err = syscall.ENOTDIR
	}
	return n, err
}

// parentOf returns the directory holding name's entry and the entry's name. The root has no
// entry anyone could create, remove or rename.
func (c *CrashFS) parentOf(name string) (*node, string, error) {
	path := split(name)
	if len(path) == 0 {
		return nil, "", syscall.EINVAL
	}
	dir, err := c.walk(path[:len(path)-1])
	if err == nil && !dir.isDir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, "", err
	}
	return dir, path[len(path)-1], nil
}

// crashFile is a handle on a CrashFS node. Its fields other than the immutable ones are guarded
// by fs.mu, like the node itself.
type crashFile struct {
	fs       *CrashFS
	n        *node
	name     string
	epoch    uint64
	canRead  bool
	canWrite bool
	appends  bool // O_APPEND: every Write goes to the end
	pos      int  // offset of the next Write without O_APPEND
	closed   bool
}

// usable returns why f cannot do op (allowed says whether its open mode permits op), or nil.
// fs.mu must be held.
func (f *crashFile) usable(op string, allowed bool) error {
	var err error
	switch {
	case f.closed:
		err = os.ErrClosed
	case f.epoch != f.fs.epoch:
		err = ErrStaleHandle
	case !allowed:
		err = syscall.EBADF
	default:
		return nil
	}
	return &os.PathError{Op: op, Path: f.name, Err: err}
}

// ReadAt reads len(p) bytes at off, returning io.EOF (unwrapped, as io.ReaderAt requires) when
// fewer are there.
func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("read", f.canRead); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write writes p at the handle's offset, or at the end of the file with O_APPEND, and moves the
// offset past it. Durable only after Sync.
func (f *crashFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("write", f.canWrite); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil // write(2) of nothing does not extend the file, even past its end
	}
	if f.appends {
		f.pos = len(f.n.data)
	}
	f.n.writeAt(p, f.pos)
	f.pos += len(p)
	return len(p), nil
}

// Close invalidates the handle. Unsynced data stays written (and unsynced), as with a real file.
func (f *crashFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("close", true); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// Sync makes the file's current contents durable, unless an injected sync error is armed.
func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("sync", true); err != nil {
		return err
	}
	if f.fs.syncFails > 0 {
		f.fs.syncFails--
		return &os.PathError{Op: "sync", Path: f.name, Err: f.fs.syncErr}
	}
	f.n.sync()
	return nil
}

// Truncate sets the size of the file, zero-filling when it grows; the handle's offset does not
// move. Durable only after Sync.
func (f *crashFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("truncate", f.canWrite); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	f.n.truncate(int(size))
	return nil
}

// Size returns the current size of the file, synced or not.
func (f *crashFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable("stat", true); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

// Name returns the name the file was opened with.
func (f *crashFile) Name() string { return f.name }
