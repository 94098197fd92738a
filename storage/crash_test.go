package storage

// Method: crash and damage tests on real files and on the crashable file system.
//   - Torn tails: a closed log's active segment is cut at every byte inside its last batch, and
//     single bytes of the active segment are flipped; each damaged copy is reopened: no panic,
//     every whole batch before the damage intact, the cut reported, the log appendable.
//   - Damage in sealed segments is an error that names the file, never a crash.
//   - Power loss (vfs.CrashFS): concurrent appenders under every policy, a crash at a random
//     moment, reopen: under FsyncAlways every append whose WaitDurable returned is there with
//     its bytes; under every policy the log reopens to a consistent prefix.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// damagedLog builds a closed log with sealed segments and an active one, and returns its
// config, the active segment's path and the position and base offset of its last batch.
func damagedLog(t *testing.T) (cfg Config, active string, lastPos int64, lastBase uint64) {
	cfg = testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	fill(t, l, 120, 10, 3)
	if len(l.segments) < 4 {
		t.Fatalf("fixture has %d segments, want at least 4", len(l.segments))
	}
	seg := l.active()
	active, lastPos, lastBase = seg.path, seg.size, seg.nextOffset()
	appendDurably(t, l, autoBatch(t, 1000, 2, 7), 1, 5000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg, active, lastPos, lastBase
}

// copyDir copies the flat partition directory src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// reopenDamaged opens a damaged copy and checks that it holds exactly the records below
// wantEnd, reports a cut from wantEnd, and takes appends again.
func reopenDamaged(t *testing.T, cfg Config, wantEnd uint64, what string) {
	t.Helper()
	l, rec, err := Open(cfg)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer l.Close()
	if l.LogEnd() != wantEnd || rec.Cut.Bytes == 0 || rec.Cut.FromOffset != wantEnd {
		t.Fatalf("%s: end %d, cut %+v; want end %d and a reported cut from there", what, l.LogEnd(), rec.Cut, wantEnd)
	}
	checkSequential(t, readAllFrom(t, l, 0), 0, int(wantEnd))
	if _, err := l.Append(autoBatch(t, int(wantEnd), 1, 0), 1, 9000); err != nil {
		t.Fatalf("%s: append after recovery: %v", what, err)
	}
}

func TestTornTailAtEveryByteOfTheLastBatch(t *testing.T) {
	cfg, active, lastPos, lastBase := damagedLog(t)
	info, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	for cut := lastPos + 1; cut < info.Size(); cut++ {
		dir := copyDir(t, cfg.Dir)
		if err := os.Truncate(filepath.Join(dir, filepath.Base(active)), cut); err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Dir, c.Fsync = dir, FsyncNever
		reopenDamaged(t, c, lastBase, fmt.Sprintf("cut at %d", cut))
	}
}

func TestFlippedByteInActiveSegment(t *testing.T) {
	cfg, active, _, _ := damagedLog(t)
	data, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := parseSegmentName(filepath.Base(active))
	// Every third byte of the last two batches, and bytes spread over the whole active segment.
	tail, _ := batchAt(t, data, base, len(data)-batch.HeaderSize-300)
	var positions []int
	for pos := tail; pos < len(data); pos += 3 {
		positions = append(positions, pos)
	}
	for pos := 0; pos < tail; pos += 61 {
		positions = append(positions, pos)
	}
	for _, pos := range positions {
		batchPos, batchBase := batchAt(t, data, base, pos)
		damaged := append([]byte(nil), data...)
		damaged[pos] ^= 0x20
		dir := copyDir(t, cfg.Dir)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(active)), damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Dir, c.Fsync = dir, FsyncNever // the policy does not matter to recovery; never is fastest
		reopenDamaged(t, c, batchBase, fmt.Sprintf("flip at %d (batch at %d)", pos, batchPos))
	}
}

// batchAt returns the position and base offset of the batch that holds byte pos of a segment.
func batchAt(t *testing.T, segment []byte, base uint64, pos int) (int, uint64) {
	t.Helper()
	at, offset := 0, base
	for rest := segment; len(rest) > 0; {
		b, next, h, err := batch.Split(rest)
		if err != nil {
			t.Fatalf("intact segment does not split: %v", err)
		}
		if pos < at+len(b) {
			return at, offset
		}
		at, offset, rest = at+len(b), h.NextOffset(), next
	}
	t.Fatalf("position %d past the segment", pos)
	return 0, 0
}

func TestDamageInSealedSegmentIsAnErrorNamingTheFile(t *testing.T) {
	cfg, _, _, _ := damagedLog(t)
	l, _ := openLog(t, cfg)
	sealed := l.segments[1]
	path, pos := sealed.path, sealed.size/2
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	data[pos] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The index is intact, so Open succeeds; reading the damaged batch names the file.
	l2, _ := openLog(t, cfg)
	var readErr error
	for from := l2.LogStart(); from < l2.LogEnd() && readErr == nil; {
		var res ReadResult
		res, readErr = l2.Read(from, 1<<20, l2.LogEnd(), nil)
		from = res.Next
	}
	if !errors.Is(readErr, ErrCorrupt) || !strings.Contains(readErr.Error(), filepath.Base(path)) {
		t.Fatalf("reading past the damage: %v; want ErrCorrupt naming %s", readErr, filepath.Base(path))
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	// Without its index, Open must rebuild it, finds the damage, and refuses with the file name.
	if err := os.Remove(strings.TrimSuffix(path, segmentSuffix) + indexSuffix); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(cfg); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(path)) {
		t.Fatalf("Open with a damaged sealed segment and no index: %v; want ErrCorrupt naming the file", err)
	}
}

func TestMissingOrBrokenIndexIsRebuilt(t *testing.T) {
	cfg, _, _, _ := damagedLog(t)
	l, _ := openLog(t, cfg)
	want := readAllFrom(t, l, 0)
	indexes := []string{l.segments[0].indexPath(), l.segments[2].indexPath()}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(indexes[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(indexes[1], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l2, rec := openLog(t, cfg)
	if len(rec.RebuiltIndexes) != 2 {
		t.Fatalf("rebuilt %v, want both %v", rec.RebuiltIndexes, indexes)
	}
	if got := readAllFrom(t, l2, 0); len(got) != len(want) {
		t.Fatalf("after rebuilding: %d records, want %d", len(got), len(want))
	}
	if off, err := l2.OffsetForID(batch.ID{Ms: 1010, Seq: 0}); err != nil || off == 0 {
		t.Fatalf("OffsetForID after rebuild: %d, %v", off, err)
	}
}

func TestCorruptMetaIsAnErrorNamingTheFile(t *testing.T) {
	cfg, _, _, _ := damagedLog(t)
	path := filepath.Join(cfg.Dir, metaFileName)
	data, _ := os.ReadFile(path)
	data[len(data)-3] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(cfg); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), metaFileName) {
		t.Fatalf("Open with a corrupt meta file: %v; want ErrCorrupt naming it", err)
	}
}

// ackedBatch is a batch whose append was reported durable.
type ackedBatch struct {
	base  uint64
	first int // valueFor(first..first+n-1)
	n     int
}

// TestPowerLossKeepsEveryDurableAppend runs concurrent appenders on the crashable file system,
// crashes it at a random moment and reopens.
func TestPowerLossKeepsEveryDurableAppend(t *testing.T) {
	for _, policy := range policies {
		for seed := uint64(1); seed <= 12; seed++ {
			t.Run(fmt.Sprintf("%v/seed=%d", policy, seed), func(t *testing.T) {
				powerLoss(t, policy, seed)
			})
		}
	}
}

func powerLoss(t *testing.T, policy Policy, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	fsys := vfs.NewCrashFS()
	cfg := testConfig(t, fsys, "/data/p0", policy)
	l, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []ackedBatch
	var next int // value sequence numbers handed out
	crashAfter := 20 + rng.IntN(200)
	reached := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				first, n := next, 1+(w*5+next)%13
				next += n
				mu.Unlock()
				a, err := l.Append(autoBatch(t, first, n, 0), 1, uint64(first))
				if err == nil {
					err = l.WaitDurable(context.Background(), a.NextOffset)
				}
				if err != nil {
					return // the crash made the log fail
				}
				mu.Lock()
				acked = append(acked, ackedBatch{base: a.BaseOffset, first: first, n: n})
				if len(acked) == crashAfter {
					close(reached)
				}
				mu.Unlock()
			}
		}()
	}
	<-reached
	// Power goes while the appenders are still writing and syncing: the process stops where it
	// is (abandon: no final fsync, appends in flight fail) and the disk loses what was not synced.
	abandon(l)
	if rng.IntN(2) == 0 {
		fsys.Crash()
	} else {
		fsys.CrashKeepingTail(rng)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	checkAfterPowerLoss(t, cfg, policy, acked)
}

func checkAfterPowerLoss(t *testing.T, cfg Config, policy Policy, acked []ackedBatch) {
	t.Helper()
	l, rec, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer l.Close()
	if !rec.Unclean {
		t.Errorf("recovery after a crash did not report an unclean shutdown: %+v", rec)
	}
	values := map[uint64]string{}
	for _, r := range readAllFrom(t, l, 0) {
		values[r.offset] = r.value
	}
	if uint64(len(values)) != l.LogEnd() {
		t.Fatalf("reopened log reads %d records but ends at %d: not a dense prefix", len(values), l.LogEnd())
	}
	if policy != FsyncAlways {
		return // acknowledged appends may be lost; the prefix check above is the contract
	}
	for _, a := range acked {
		for i := range a.n {
			if got, want := values[a.base+uint64(i)], string(valueFor(a.first+i)); got != want {
				t.Fatalf("durable record at offset %d: got %q, want %q (log end %d, cut %+v)", a.base+uint64(i), got, want, l.LogEnd(), rec.Cut)
			}
		}
	}
}

func TestSyncFailureStopsWrites(t *testing.T) {
	fsys := vfs.NewCrashFS()
	l, _ := openLog(t, testConfig(t, fsys, "/data/p0", FsyncAlways))
	appendDurably(t, l, autoBatch(t, 0, 1, 0), 1, 1)
	fsys.InjectSyncError(errors.New("injected EIO"), 1)
	a, err := l.Append(autoBatch(t, 1, 1, 0), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitDurable(ctx, a.NextOffset); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitDurable after a failed fsync: %v, want ErrFailed", err)
	}
	if _, err := l.Append(autoBatch(t, 2, 1, 0), 1, 3); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after a failed fsync: %v, want ErrFailed", err)
	}
	if l.Err() == nil {
		t.Fatal("Err() is nil after a failed fsync")
	}
}

func TestOpenRefusesAMissingDirectoryParentGracefully(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(Config{Dir: filepath.Join(file, "p0")})
	if err == nil || errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "p0") {
		t.Fatalf("Open under a regular file: %v; want an error naming the directory", err)
	}
}

// TestTrimThenPowerLossUnderNever: a trim that moves the log start past unsynced records must
// make them durable first, or the reopened log would start above its end.
func TestTrimThenPowerLossUnderNever(t *testing.T) {
	fsys := vfs.NewCrashFS()
	cfg := testConfig(t, fsys, "/data/p0", FsyncNever)
	l, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 30, 10)
	if _, err := l.Trim(Trim{MaxLen: 5}); err != nil {
		t.Fatal(err)
	}
	last := l.LastID()
	fsys.Crash()
	abandon(l)
	l2, _ := openLog(t, cfg)
	if l2.LogStart() != 295 || l2.LogEnd() != 300 || l2.Len() != 5 || l2.LastID() != last {
		t.Fatalf("after trim and crash: start %d end %d len %d last %v; want 295 300 5 %v",
			l2.LogStart(), l2.LogEnd(), l2.Len(), l2.LastID(), last)
	}
}

func TestCutIsReportedInTheLog(t *testing.T) {
	cfg, active, lastPos, lastBase := damagedLog(t)
	if err := os.Truncate(active, lastPos+10); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cfg.Logger = slog.New(slog.NewTextHandler(&out, nil))
	l, _ := openLog(t, cfg)
	line := out.String()
	for _, want := range []string{"cut a torn or corrupt tail", filepath.Base(active), "bytes=10", fmt.Sprintf("from_offset=%d", lastBase)} {
		if !strings.Contains(line, want) {
			t.Fatalf("recovery log %q does not contain %q", line, want)
		}
	}
	if l.LogEnd() != lastBase {
		t.Fatalf("end %d, want %d", l.LogEnd(), lastBase)
	}
}

func TestSecondOpenOfADirectoryIsRefused(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	if _, _, err := Open(cfg); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), cfg.Dir) {
		t.Fatalf("second Open: %v; want ErrLocked naming the directory", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openLog(t, cfg) // free again after Close
}
