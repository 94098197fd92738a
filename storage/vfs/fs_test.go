package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/shoalmq/shoal/storage/vfs"
)

// eachFS runs test against the real file system (in a fresh temporary directory) and against a
// fresh CrashFS, so that both implementations are held to the same behaviour.
func eachFS(t *testing.T, test func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Helper()
	t.Run("OS", func(t *testing.T) { test(t, vfs.OS(), t.TempDir()) })
	t.Run("CrashFS", func(t *testing.T) {
		fsys := vfs.NewCrashFS()
		const dir = "/data"
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("MkdirAll(%q) = %v", dir, err)
		}
		test(t, fsys, dir)
	})
}

// open opens name or fails the test; the file is closed at the end of the test if still open.
func open(t *testing.T, fsys vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(%q, %#x) = %v", name, flag, err)
	}
	t.Cleanup(func() { _ = f.Close() }) // may already be closed (or stale): nothing to check
	return f
}

func write(t *testing.T, f vfs.File, data string) {
	t.Helper()
	n, err := f.Write([]byte(data))
	if err != nil || n != len(data) {
		t.Fatalf("Write(%q) = %d, %v; want %d, nil", data, n, err, len(data))
	}
}

func writeFile(t *testing.T, fsys vfs.FS, name, data string) {
	t.Helper()
	f := open(t, fsys, name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY)
	write(t, f, data)
	if err := f.Close(); err != nil {
		t.Fatalf("Close(%q) = %v", name, err)
	}
}

// contents returns everything in f, reading it through Size and ReadAt.
func contents(t *testing.T, f vfs.File) string {
	t.Helper()
	size, err := f.Size()
	if err != nil {
		t.Fatalf("Size(%q) = %v", f.Name(), err)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); n != len(buf) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(%q, 0) = %d, %v; want %d", f.Name(), n, err, len(buf))
	}
	return string(buf)
}

func wantFile(t *testing.T, fsys vfs.FS, name, want string) {
	t.Helper()
	f := open(t, fsys, name, os.O_RDONLY)
	if got := contents(t, f); got != want {
		t.Errorf("contents of %s = %q, want %q", name, got, want)
	}
}

func wantDir(t *testing.T, fsys vfs.FS, dir string, want ...string) {
	t.Helper()
	got, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q) = %v", dir, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ReadDir(%q) = %q, want %q", dir, got, want)
	}
}

// wantErr checks that err wraps target, or is nil when target is nil.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if (target == nil && err != nil) || (target != nil && !errors.Is(err, target)) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func TestWriteThenRead(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		f := open(t, fsys, name, os.O_CREATE|os.O_EXCL|os.O_RDWR)
		write(t, f, "hello ")
		write(t, f, "world")
		if got, want := contents(t, f), "hello world"; got != want {
			t.Errorf("contents = %q, want %q", got, want)
		}
		if got := f.Name(); got != name {
			t.Errorf("Name() = %q, want %q", got, name)
		}
		wantErr(t, "Sync", f.Sync(), nil)
		wantErr(t, "Close", f.Close(), nil)
		wantFile(t, fsys, name, "hello world")
	})
}

func TestReadAt(t *testing.T) {
	tests := []struct {
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{off: 0, n: 4, want: "0123"},
		{off: 6, n: 4, want: "6789"},
		{off: 8, n: 4, want: "89", wantErr: io.EOF},
		{off: 10, n: 1, want: "", wantErr: io.EOF},
		{off: 20, n: 1, want: "", wantErr: io.EOF},
		{off: 3, n: 0, want: ""},
	}
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		writeFile(t, fsys, name, "0123456789")
		f := open(t, fsys, name, os.O_RDONLY)
		for _, tt := range tests {
			buf := make([]byte, tt.n)
			n, err := f.ReadAt(buf, tt.off)
			if got := string(buf[:n]); got != tt.want || err != tt.wantErr {
				t.Errorf("ReadAt(%d bytes, %d) = %q, %v; want %q, %v",
					tt.n, tt.off, got, err, tt.want, tt.wantErr)
			}
		}
		if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
			t.Errorf("ReadAt at offset -1: no error")
		}
	})
}

func TestTruncate(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		f := open(t, fsys, filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR)
		write(t, f, "abcdef")
		steps := []struct {
			size int64
			want string
		}{
			{2, "ab"},
			{5, "ab\x00\x00\x00"}, // growing reads back zeros, not the old "cde"
			{0, ""},
		}
		for _, s := range steps {
			wantErr(t, fmt.Sprintf("Truncate(%d)", s.size), f.Truncate(s.size), nil)
			if got := contents(t, f); got != s.want {
				t.Errorf("after Truncate(%d): contents %q, want %q", s.size, got, s.want)
			}
		}
		// Truncate does not move the write offset (still 6): an empty write there changes
		// nothing, and the next real write leaves a hole.
		write(t, f, "")
		if got := contents(t, f); got != "" {
			t.Errorf("empty write past the end: contents %q, want none", got)
		}
		write(t, f, "X")
		if got, want := contents(t, f), "\x00\x00\x00\x00\x00\x00X"; got != want {
			t.Errorf("write after Truncate: contents %q, want %q", got, want)
		}
		if err := f.Truncate(-1); err == nil {
			t.Errorf("Truncate(-1): no error")
		}
	})
}

func TestAppend(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		writeFile(t, fsys, name, "abc")
		f := open(t, fsys, name, os.O_WRONLY|os.O_APPEND)
		write(t, f, "de")
		wantFile(t, fsys, name, "abcde")
		wantErr(t, "Truncate", f.Truncate(1), nil)
		write(t, f, "f") // goes to the new end, not to the old offset 5
		wantFile(t, fsys, name, "af")
	})
}

func TestOpenFlags(t *testing.T) {
	const rw, create = os.O_RDWR, os.O_RDWR | os.O_CREATE
	tests := []struct {
		name    string
		path    string // below the test directory; "f" holds "abc" beforehand
		flag    int
		wantErr error
		want    string // contents after writing "X" (when wantErr is nil)
	}{
		{"existing", "f", rw, nil, "Xbc"},
		{"missing", "g", rw, fs.ErrNotExist, ""},
		{"create missing", "g", create, nil, "X"},
		{"create existing", "f", create, nil, "Xbc"},
		{"exclusive existing", "f", create | os.O_EXCL, fs.ErrExist, ""},
		{"exclusive missing", "g", create | os.O_EXCL, nil, "X"},
		{"truncate", "f", rw | os.O_TRUNC, nil, "X"},
		{"append", "f", rw | os.O_APPEND, nil, "abcX"},
		{"missing directory", "nodir/g", create, fs.ErrNotExist, ""},
		{"through a file", "f/g", create, syscall.ENOTDIR, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
				writeFile(t, fsys, filepath.Join(dir, "f"), "abc")
				name := filepath.Join(dir, tt.path)
				f, err := fsys.OpenFile(name, tt.flag, 0o644)
				wantErr(t, "OpenFile", err, tt.wantErr)
				if err != nil {
					return
				}
				defer f.Close()
				write(t, f, "X")
				if got := contents(t, f); got != tt.want {
					t.Errorf("contents = %q, want %q", got, tt.want)
				}
			})
		})
	}
}

func TestAccessMode(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		writeFile(t, fsys, name, "abc")
		ro := open(t, fsys, name, os.O_RDONLY)
		if _, err := ro.Write([]byte("x")); err == nil {
			t.Errorf("Write on O_RDONLY: no error")
		}
		if err := ro.Truncate(0); err == nil {
			t.Errorf("Truncate on O_RDONLY: no error")
		}
		wo := open(t, fsys, name, os.O_WRONLY)
		if _, err := wo.ReadAt(make([]byte, 1), 0); err == nil || err == io.EOF {
			t.Errorf("ReadAt on O_WRONLY: error %v, want a failure", err)
		}
		wantFile(t, fsys, name, "abc")
	})
}

func TestClosedFile(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		f := open(t, fsys, filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR)
		write(t, f, "abc")
		wantErr(t, "Close", f.Close(), nil)
		_, err := f.Write([]byte("x"))
		wantErr(t, "Write after Close", err, os.ErrClosed)
		_, err = f.ReadAt(make([]byte, 1), 0)
		wantErr(t, "ReadAt after Close", err, os.ErrClosed)
		_, err = f.Size()
		wantErr(t, "Size after Close", err, os.ErrClosed)
		wantErr(t, "Sync after Close", f.Sync(), os.ErrClosed)
		wantErr(t, "Truncate after Close", f.Truncate(0), os.ErrClosed)
		wantErr(t, "Close after Close", f.Close(), os.ErrClosed)
	})
}

func TestRename(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, fsys, a, "new")
		writeFile(t, fsys, b, "old")
		wantErr(t, "Rename over a file", fsys.Rename(a, b), nil)
		wantFile(t, fsys, b, "new")
		wantDir(t, fsys, dir, "b")
		_, err := fsys.OpenFile(a, os.O_RDONLY, 0)
		wantErr(t, "open old name", err, fs.ErrNotExist)

		wantErr(t, "Rename missing", fsys.Rename(a, b), fs.ErrNotExist)
		wantErr(t, "Rename to itself", fsys.Rename(b, b), nil)
		wantFile(t, fsys, b, "new")
		sub := filepath.Join(dir, "sub")
		wantErr(t, "MkdirAll", fsys.MkdirAll(sub, 0o755), nil)
		wantErr(t, "Rename over a directory", fsys.Rename(b, sub), fs.ErrExist)
		wantErr(t, "Rename into a directory", fsys.Rename(b, filepath.Join(sub, "c")), nil)
		wantFile(t, fsys, filepath.Join(sub, "c"), "new")
		wantDir(t, fsys, dir, "sub")
	})
}

func TestRemove(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name, sub := filepath.Join(dir, "f"), filepath.Join(dir, "sub")
		writeFile(t, fsys, name, "abc")
		wantErr(t, "MkdirAll", fsys.MkdirAll(sub, 0o755), nil)
		writeFile(t, fsys, filepath.Join(sub, "g"), "")
		wantErr(t, "Remove", fsys.Remove(name), nil)
		wantErr(t, "Remove again", fsys.Remove(name), fs.ErrNotExist)
		if err := fsys.Remove(sub); err == nil {
			t.Errorf("Remove of a non-empty directory: no error")
		}
		wantErr(t, "Remove in directory", fsys.Remove(filepath.Join(sub, "g")), nil)
		wantErr(t, "Remove empty directory", fsys.Remove(sub), nil)
		wantDir(t, fsys, dir)
	})
}

func TestReadDirAndMkdirAll(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		wantDir(t, fsys, dir)
		for _, name := range []string{"c", "a", "b"} {
			writeFile(t, fsys, filepath.Join(dir, name), name)
		}
		deep := filepath.Join(dir, "d", "e", "f")
		wantErr(t, "MkdirAll", fsys.MkdirAll(deep, 0o755), nil)
		wantErr(t, "MkdirAll existing", fsys.MkdirAll(deep, 0o755), nil)
		writeFile(t, fsys, filepath.Join(deep, "g"), "g")
		wantDir(t, fsys, dir, "a", "b", "c", "d")
		wantDir(t, fsys, deep, "g")
		if err := fsys.MkdirAll(filepath.Join(dir, "a", "x"), 0o755); err == nil {
			t.Errorf("MkdirAll through a file: no error")
		}
		_, err := fsys.ReadDir(filepath.Join(dir, "missing"))
		wantErr(t, "ReadDir missing", err, fs.ErrNotExist)
	})
}

func TestSyncDir(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		writeFile(t, fsys, filepath.Join(dir, "f"), "abc")
		wantErr(t, "SyncDir", fsys.SyncDir(dir), nil)
		wantErr(t, "SyncDir missing", fsys.SyncDir(filepath.Join(dir, "missing")), fs.ErrNotExist)
	})
}

// TestHandleFollowsFile checks inode semantics: a handle keeps working on its file across a
// rename and after a remove, which recovery code relies on when it renames open segments.
func TestHandleFollowsFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot rename or remove open files")
	}
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		f := open(t, fsys, a, os.O_CREATE|os.O_RDWR)
		write(t, f, "abc")
		wantErr(t, "Rename", fsys.Rename(a, b), nil)
		write(t, f, "def")
		wantFile(t, fsys, b, "abcdef")
		wantErr(t, "Remove", fsys.Remove(b), nil)
		write(t, f, "g")
		if got, want := contents(t, f), "abcdefg"; got != want {
			t.Errorf("contents of removed file = %q, want %q", got, want)
		}
	})
}

// TestConcurrentReadAt reads what a concurrent writer has published while it keeps appending and
// syncing, as fetches do during group commit. Run with -race.
func TestConcurrentReadAt(t *testing.T) {
	const chunks, chunkSize, readers = 200, 64, 4
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, chunkSize) }
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		w := open(t, fsys, filepath.Join(dir, "f"), os.O_CREATE|os.O_WRONLY|os.O_APPEND)
		r := open(t, fsys, filepath.Join(dir, "f"), os.O_RDONLY)
		var published atomic.Int64 // chunks fully written
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range chunks {
				if _, err := w.Write(chunk(i)); err != nil {
					t.Errorf("Write chunk %d: %v", i, err)
					return
				}
				published.Store(int64(i + 1))
				if i%10 == 0 {
					wg.Go(func() { wantErr(t, "Sync", w.Sync(), nil) })
				}
			}
		})
		for range readers {
			wg.Go(func() { readChunks(t, r, &published, chunks, chunk) })
		}
		wg.Wait()
	})
}

func readChunks(t *testing.T, r vfs.File, published *atomic.Int64, n int, chunk func(int) []byte) {
	buf := make([]byte, len(chunk(0)))
	for i := range n {
		i = min(i, int(published.Load())-1)
		if i < 0 {
			continue
		}
		if _, err := r.ReadAt(buf, int64(i*len(buf))); err != nil {
			t.Errorf("ReadAt chunk %d: %v", i, err)
			return
		}
		if !bytes.Equal(buf, chunk(i)) {
			t.Errorf("chunk %d = %q, want %q", i, buf, chunk(i))
			return
		}
	}
}

func TestLockIsExclusiveUntilClosed(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, ".lock")
		first, err := fsys.Lock(name)
		if err != nil {
			t.Fatalf("first Lock: %v", err)
		}
		if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("second Lock while held: %v, want ErrLocked", err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := fsys.Lock(name)
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		_ = again.Close()
	})
}
