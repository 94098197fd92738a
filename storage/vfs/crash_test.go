package vfs_test

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoalmq/shoal/storage/vfs"
)

// crashDir is where crash tests put their files; newCrashFS makes it durable, so that each test
// decides alone what else is.
const crashDir = "/d"

func newCrashFS(t *testing.T) *vfs.CrashFS {
	t.Helper()
	fsys := vfs.NewCrashFS()
	wantErr(t, "MkdirAll", fsys.MkdirAll(crashDir, 0o755), nil)
	wantErr(t, "SyncDir /", fsys.SyncDir("/"), nil)
	return fsys
}

func inDir(name string) string { return filepath.Join(crashDir, name) }

// snapshot returns the contents of every file in dir, and "<dir>" for each subdirectory.
func snapshot(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q) = %v", dir, err)
	}
	got := map[string]string{}
	for _, name := range names {
		f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
		if err != nil {
			got[name] = "<dir>" // the only thing CrashFS refuses to open
			continue
		}
		got[name] = contents(t, f)
		_ = f.Close()
	}
	return got
}

// createSynced creates name holding data, with both the data and the name durable.
func createSynced(t *testing.T, fsys vfs.FS, name, data string) {
	t.Helper()
	f := open(t, fsys, inDir(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	write(t, f, data)
	wantErr(t, "Sync", f.Sync(), nil)
	wantErr(t, "Close", f.Close(), nil)
	wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
}

// crashTests are scenarios for TestCrash: do runs on a fresh CrashFS, which then crashes.
var crashTests = []struct {
	name string
	do   func(t *testing.T, fsys *vfs.CrashFS)
	want map[string]string // snapshot of crashDir after the crash
}{
	{"unsynced write lost", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "")
		write(t, open(t, fsys, inDir("f"), os.O_WRONLY), "abc")
	}, map[string]string{"f": ""}},
	{"synced write kept, later write lost", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abc")
		write(t, open(t, fsys, inDir("f"), os.O_WRONLY|os.O_APPEND), "def")
	}, map[string]string{"f": "abc"}},
	{"create without SyncDir lost", func(t *testing.T, fsys *vfs.CrashFS) {
		f := open(t, fsys, inDir("f"), os.O_CREATE|os.O_WRONLY)
		write(t, f, "abc")
		wantErr(t, "Sync", f.Sync(), nil) // data durable, name not
	}, map[string]string{}},
	{"create with SyncDir kept", func(t *testing.T, fsys *vfs.CrashFS) {
		open(t, fsys, inDir("f"), os.O_CREATE|os.O_WRONLY)
		wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
	}, map[string]string{"f": ""}},
	{"rename without SyncDir undone", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "a", "new")
		createSynced(t, fsys, "b", "old")
		wantErr(t, "Rename", fsys.Rename(inDir("a"), inDir("b")), nil)
	}, map[string]string{"a": "new", "b": "old"}},
	{"rename with SyncDir kept", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "a", "new")
		createSynced(t, fsys, "b", "old")
		wantErr(t, "Rename", fsys.Rename(inDir("a"), inDir("b")), nil)
		wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
	}, map[string]string{"b": "new"}},
	{"remove without SyncDir undone", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abc")
		wantErr(t, "Remove", fsys.Remove(inDir("f")), nil)
	}, map[string]string{"f": "abc"}},
	{"remove with SyncDir kept", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abc")
		wantErr(t, "Remove", fsys.Remove(inDir("f")), nil)
		wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
	}, map[string]string{}},
	{"truncate without Sync undone", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abcdef")
		wantErr(t, "Truncate", open(t, fsys, inDir("f"), os.O_WRONLY).Truncate(2), nil)
	}, map[string]string{"f": "abcdef"}},
	{"O_TRUNC without Sync undone", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abcdef")
		write(t, open(t, fsys, inDir("f"), os.O_WRONLY|os.O_TRUNC), "x")
	}, map[string]string{"f": "abcdef"}},
	{"synced overwrite kept", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "hello world")
		f := open(t, fsys, inDir("f"), os.O_WRONLY)
		write(t, f, "HELLO")
		wantErr(t, "Sync", f.Sync(), nil)
		write(t, f, " there")
	}, map[string]string{"f": "HELLO world"}},
	{"synced shrink and regrow kept", func(t *testing.T, fsys *vfs.CrashFS) {
		createSynced(t, fsys, "f", "abcdef")
		f := open(t, fsys, inDir("f"), os.O_WRONLY|os.O_APPEND)
		wantErr(t, "Truncate", f.Truncate(2), nil)
		write(t, f, "XY")
		wantErr(t, "Sync", f.Sync(), nil)
	}, map[string]string{"f": "abXY"}},
	{"new directory without parent SyncDir lost", func(t *testing.T, fsys *vfs.CrashFS) {
		sub := inDir("sub")
		wantErr(t, "MkdirAll", fsys.MkdirAll(sub, 0o755), nil)
		f := open(t, fsys, filepath.Join(sub, "f"), os.O_CREATE|os.O_WRONLY)
		wantErr(t, "Sync", f.Sync(), nil)
		wantErr(t, "SyncDir sub", fsys.SyncDir(sub), nil)
	}, map[string]string{}},
	{"new directory with parent SyncDir kept", func(t *testing.T, fsys *vfs.CrashFS) {
		wantErr(t, "MkdirAll", fsys.MkdirAll(inDir("sub"), 0o755), nil)
		wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
	}, map[string]string{"sub": "<dir>"}},
}

func TestCrash(t *testing.T) {
	for _, tt := range crashTests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := newCrashFS(t)
			tt.do(t, fsys)
			fsys.Crash()
			if got := snapshot(t, fsys, crashDir); !maps.Equal(got, tt.want) {
				t.Errorf("after crash: %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCrashRenameAcrossDirectories documents the state a half-synced move leaves: the file keeps
// its durable old name, and gains the new one, because each directory is judged alone.
func TestCrashRenameAcrossDirectories(t *testing.T) {
	fsys := newCrashFS(t)
	createSynced(t, fsys, "f", "abc")
	sub := inDir("sub")
	wantErr(t, "MkdirAll", fsys.MkdirAll(sub, 0o755), nil)
	wantErr(t, "SyncDir", fsys.SyncDir(crashDir), nil)
	wantErr(t, "Rename", fsys.Rename(inDir("f"), filepath.Join(sub, "g")), nil)
	wantErr(t, "SyncDir sub", fsys.SyncDir(sub), nil)
	fsys.Crash()
	if got, want := snapshot(t, fsys, crashDir), map[string]string{"f": "abc", "sub": "<dir>"}; !maps.Equal(got, want) {
		t.Errorf("%s after crash: %q, want %q", crashDir, got, want)
	}
	if got, want := snapshot(t, fsys, sub), map[string]string{"g": "abc"}; !maps.Equal(got, want) {
		t.Errorf("%s after crash: %q, want %q", sub, got, want)
	}
}

func TestCrashInvalidatesHandles(t *testing.T) {
	fsys := newCrashFS(t)
	createSynced(t, fsys, "f", "abc")
	old := open(t, fsys, inDir("f"), os.O_RDWR)
	fsys.Crash()

	_, err := old.Write([]byte("x"))
	wantErr(t, "Write", err, vfs.ErrStaleHandle)
	_, err = old.ReadAt(make([]byte, 1), 0)
	wantErr(t, "ReadAt", err, vfs.ErrStaleHandle)
	_, err = old.Size()
	wantErr(t, "Size", err, vfs.ErrStaleHandle)
	wantErr(t, "Sync", old.Sync(), vfs.ErrStaleHandle)
	wantErr(t, "Truncate", old.Truncate(0), vfs.ErrStaleHandle)
	wantErr(t, "Close", old.Close(), vfs.ErrStaleHandle)

	f := open(t, fsys, inDir("f"), os.O_RDWR|os.O_APPEND)
	write(t, f, "def")
	wantErr(t, "Sync after crash", f.Sync(), nil)
	fsys.Crash()
	wantFile(t, fsys, inDir("f"), "abcdef")
}

func TestInjectSyncError(t *testing.T) {
	fsys := newCrashFS(t)
	createSynced(t, fsys, "f", "abc")
	f := open(t, fsys, inDir("f"), os.O_WRONLY|os.O_APPEND)
	write(t, f, "def")
	errDisk := errors.New("disk on fire")
	fsys.InjectSyncError(errDisk, 2)
	wantErr(t, "first Sync", f.Sync(), errDisk)
	wantErr(t, "second Sync", f.Sync(), errDisk)
	wantErr(t, "SyncDir (not affected)", fsys.SyncDir(crashDir), nil)
	fsys.Crash()
	wantFile(t, fsys, inDir("f"), "abc")

	f = open(t, fsys, inDir("f"), os.O_WRONLY|os.O_APPEND)
	write(t, f, "ghi")
	wantErr(t, "Sync after the injected errors", f.Sync(), nil)
	fsys.InjectSyncError(errDisk, 1)
	fsys.InjectSyncError(nil, 0) // disarms
	write(t, f, "jkl")
	wantErr(t, "Sync after disarming", f.Sync(), nil)
	fsys.Crash()
	wantFile(t, fsys, inDir("f"), "abcghijkl")
}

// TestCrashKeepingTail checks that a torn crash keeps the synced bytes and a prefix of the
// appended ones, and that over many seeds it sometimes keeps none, some, and all of them.
func TestCrashKeepingTail(t *testing.T) {
	const synced, tail = "synced|", "appended-but-not-synced"
	seen := map[int]bool{} // lengths of kept tails
	for seed := range uint64(200) {
		fsys := newCrashFS(t)
		createSynced(t, fsys, "f", synced)
		f := open(t, fsys, inDir("f"), os.O_WRONLY|os.O_APPEND)
		write(t, f, tail[:10])
		write(t, f, tail[10:])
		fsys.CrashKeepingTail(rand.New(rand.NewPCG(seed, 1)))
		got := snapshot(t, fsys, crashDir)["f"]
		kept, ok := strings.CutPrefix(got, synced)
		if !ok || !strings.HasPrefix(tail, kept) {
			t.Fatalf("seed %d: contents %q, want %q followed by a prefix of %q", seed, got, synced, tail)
		}
		seen[len(kept)] = true
	}
	if !seen[0] || !seen[len(tail)] || len(seen) < 3 {
		t.Errorf("kept tail lengths over 200 seeds: %v; want 0, %d and some in between",
			seen, len(tail))
	}
}

// TestCrashKeepingTailRevertsOverwrites checks that only growth can be torn: a file overwritten
// or shrunk since its last Sync comes back exactly as synced.
func TestCrashKeepingTailRevertsOverwrites(t *testing.T) {
	for seed := range uint64(50) {
		fsys := newCrashFS(t)
		createSynced(t, fsys, "overwritten", "abcdef")
		createSynced(t, fsys, "shrunk", "abcdef")
		over := open(t, fsys, inDir("overwritten"), os.O_WRONLY)
		write(t, over, "XYZXYZXYZ")
		shrunk := open(t, fsys, inDir("shrunk"), os.O_WRONLY|os.O_APPEND)
		wantErr(t, "Truncate", shrunk.Truncate(3), nil)
		write(t, shrunk, "XYZXYZ")
		fsys.CrashKeepingTail(rand.New(rand.NewPCG(seed, 2)))
		want := map[string]string{"overwritten": "abcdef", "shrunk": "abcdef"}
		if got := snapshot(t, fsys, crashDir); !maps.Equal(got, want) {
			t.Fatalf("seed %d: after crash %q, want %q", seed, got, want)
		}
	}
}

// TestCrashKeepingTailIsDeterministic checks that the same seed tears the same files the same
// way, which a simulation replaying a seed depends on.
func TestCrashKeepingTailIsDeterministic(t *testing.T) {
	run := func(seed uint64) map[string]string {
		fsys := newCrashFS(t)
		for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			createSynced(t, fsys, name, name)
			write(t, open(t, fsys, inDir(name), os.O_WRONLY|os.O_APPEND), strings.Repeat(name, 40))
		}
		fsys.CrashKeepingTail(rand.New(rand.NewPCG(seed, 3)))
		return snapshot(t, fsys, crashDir)
	}
	for seed := range uint64(20) {
		if first, second := run(seed), run(seed); !maps.Equal(first, second) {
			t.Fatalf("seed %d: first run %q, second run %q", seed, first, second)
		}
	}
}

// TestCrashWhileWriting crashes while goroutines append and sync, to give the race detector a
// chance, then checks that each file holds only whole chunks that were synced (Crash tears nothing).
func TestCrashWhileWriting(t *testing.T) {
	const writers, chunks, chunkSize = 4, 100, 16
	fsys := newCrashFS(t)
	names := []string{"w0", "w1", "w2", "w3"}
	var wg sync.WaitGroup
	for _, name := range names[:writers] {
		createSynced(t, fsys, name, "")
		f := open(t, fsys, inDir(name), os.O_WRONLY|os.O_APPEND)
		chunk := bytes.Repeat([]byte(name[1:]), chunkSize)
		wg.Go(func() {
			for range chunks {
				if _, err := f.Write(chunk); err != nil {
					return // stale after the crash: the writer is gone, as after a power loss
				}
				if err := f.Sync(); err != nil {
					return
				}
			}
		})
	}
	fsys.Crash()
	wg.Wait()
	for name, got := range snapshot(t, fsys, crashDir) {
		want := strings.Repeat(name[1:], len(got))
		if len(got)%chunkSize != 0 || got != want || len(got) > chunks*chunkSize {
			t.Errorf("%s after crash: %d bytes %q, want whole chunks of %q", name, len(got), got, name[1:])
		}
	}
}

func TestCrashReleasesLocks(t *testing.T) {
	c := vfs.NewCrashFS()
	if _, err := c.Lock("/a.lock"); err != nil {
		t.Fatal(err)
	}
	c.Crash()
	l, err := c.Lock("/a.lock")
	if err != nil {
		t.Fatalf("Lock after a crash: %v; the crashed process's lock must be gone", err)
	}
	_ = l.Close()
}

func TestWriteFileAtomicSurvivesACrashWhole(t *testing.T) {
	c := vfs.NewCrashFS()
	if err := c.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(c, "/d", "f", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(c, "/d", "f", []byte("two")); err != nil {
		t.Fatal(err)
	}
	c.Crash()
	f, err := c.OpenFile("/d/f", os.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("after a crash: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "two" {
		t.Fatalf("after a crash the file holds %q (%v), want the last write whole", buf, err)
	}
}
