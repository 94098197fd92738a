package storage

// Review tests: each TestReview... test demonstrates one defect found in review. They are meant to
// fail until the defect is fixed; the comment above each names the code and the consequence.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// hookFS wraps a file system and runs hooks around File.Sync of segment files, so a test can
// act at an exact moment of the log's sync path.
type hookFS struct {
	vfs.FS
	mu         sync.Mutex
	beforeSync func(name string)
	afterSync  func(name string)
}

func (h *hookFS) setHooks(before, after func(name string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeSync, h.afterSync = before, after
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, fs: h}, nil
}

type hookFile struct {
	vfs.File
	fs *hookFS
}

func (f *hookFile) Sync() error {
	if !strings.HasSuffix(f.Name(), segmentSuffix) {
		return f.File.Sync()
	}
	f.fs.mu.Lock()
	before, after := f.fs.beforeSync, f.fs.afterSync
	f.fs.mu.Unlock()
	if before != nil {
		before(f.Name())
	}
	err := f.File.Sync()
	if after != nil {
		after(f.Name())
	}
	return err
}

// controlTombstones builds an unstamped control batch of tombstones for the given offsets.
func controlTombstones(t testing.TB, offsets ...uint64) []byte {
	t.Helper()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
	for _, o := range offsets {
		if err := b.Add(batch.ID{}, 0, batch.TombstoneKey, batch.AppendTombstoneValue(nil, o), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(out)
}

func hasOffset(got []seen, offset uint64) bool {
	for _, r := range got {
		if r.offset == offset {
			return true
		}
	}
	return false
}

// retention.go:335-343 (offsetOfIDLocked) with read.go:359 (findFirstLocked clamps to LogStart):
// XDEL of an id that an exact XTRIM already removed (still on disk below the log start in the
// same segment) matches the trimmed record, is clamped to the log start and tombstones the first
// live record instead. Delete reports 1 and a record nobody deleted disappears, on every replica.
func TestReviewDeleteOfTrimmedIDDeletesTheFirstLiveRecord(t *testing.T) {
	l, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	fill(t, l, 1, 10) // offsets 0..9, ids 1000-0..1000-9, one batch
	if _, err := l.Trim(Trim{MaxLen: 5}); err != nil {
		t.Fatal(err)
	}
	if l.LogStart() != 5 || l.Len() != 5 {
		t.Fatalf("after trim: start %d len %d, want 5 5", l.LogStart(), l.Len())
	}
	n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 2}}, 1, 0) // offset 2: already trimmed
	if err != nil {
		t.Fatal(err)
	}
	got := readAllFrom(t, l, l.LogStart())
	if n != 0 || l.Len() != 5 || !hasOffset(got, 5) {
		t.Fatalf("XDEL of a trimmed id: deleted %d, Len %d, offset 5 visible %v; want 0 deleted, Len 5, offset 5 visible",
			n, l.Len(), hasOffset(got, 5))
	}
}

// retention.go:373 (Truncate keeps l.tombstones below end): tombstones are kept by the offset
// they delete, not by the offset of the control batch that carried them. Truncating away an
// XDEL control batch (a deposed leader's divergent suffix) leaves its record deleted here while
// the new leader's log has it live; the meta checkpoint then persists the phantom tombstone.
func TestReviewTruncateKeepsTombstonesOfTruncatedDeletes(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	fill(t, l, 1, 5) // offsets 0..4
	if n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 1}}, 1, 0); err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	if l.LogEnd() != 6 {
		t.Fatalf("log end %d, want 6 (control batch at 5)", l.LogEnd())
	}
	if err := l.Truncate(5); err != nil { // the control batch goes
		t.Fatal(err)
	}
	check := func(l *Log, when string) {
		t.Helper()
		got := readAllFrom(t, l, 0)
		if l.Len() != 5 || len(got) != 5 || !hasOffset(got, 1) {
			t.Fatalf("%s: Len %d, read %d records, offset 1 visible %v; want 5, 5, true (its tombstone was truncated)",
				when, l.Len(), len(got), hasOffset(got, 1))
		}
	}
	check(l, "after Truncate")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, _ := openLog(t, cfg)
	check(l2, "after reopen")
}

// log.go:188-190 (saveMetaLocked checkpoints l.tombstones through nextOffset, synced or not) with
// open.go:304 (recovery keeps checkpointed tombstones below the new end): under FsyncAlways an
// XDEL whose control batch never reached the disk (WaitDurable never returned) is checkpointed by
// any meta write (here Promise; also an epoch change or a trim) and survives the power loss,
// although the control batch that carries it is gone. The record stays hidden on this replica
// only.
func TestReviewUnsyncedDeleteSurvivesPowerLossThroughMetaCheckpoint(t *testing.T) {
	crash := vfs.NewCrashFS()
	hfs := &hookFS{FS: crash}
	cfg := testConfig(t, hfs, "/data/p0", FsyncAlways)
	l, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 1, 5) // offsets 0..4, durable
	// Hold every segment fsync at the gate: the control batch of the Delete stays unsynced.
	gate := make(chan struct{})
	hfs.setHooks(func(string) { <-gate }, nil)
	if n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 1}}, 1, 0); err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	if l.DurableEnd() != 5 {
		t.Fatalf("durable end %d, want 5: the delete must not be durable yet", l.DurableEnd())
	}
	if err := l.Promise(2); err != nil { // any meta write
		t.Fatal(err)
	}
	crash.Crash()
	hfs.setHooks(nil, nil)
	close(gate)
	abandon(l)
	l2, _ := openLog(t, cfg)
	got := readAllFrom(t, l2, 0)
	if l2.LogEnd() != 5 || l2.Len() != 5 || !hasOffset(got, 1) {
		t.Fatalf("after power loss: end %d, Len %d, offset 1 visible %v; want 5, 5, true (the XDEL never reached the disk)",
			l2.LogEnd(), l2.Len(), hasOffset(got, 1))
	}
}

// retention.go:314-325 (Delete builds one control batch with no size limit) with segment.go:135
// (recovery treats a batch above MaxBatchBytes as corrupt): an XDEL of many ids writes a batch
// above MaxBatchBytes. Followers refuse it (AppendReplica: ErrTooLarge, replication stalls), and
// the next Open cuts the active segment at it, losing the tombstones and every durable append
// after them.
func TestReviewLargeDeleteIsCutOnReopenWithTheAppendsAfterIt(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	fill(t, l, 10, 30) // 300 records, batch i has ids (1000+i)-0..29
	var ids []batch.ID
	for i := range 10 {
		for s := range 30 {
			ids = append(ids, batch.ID{Ms: uint64(1000 + i), Seq: uint64(s)})
		}
	}
	if n, err := l.Delete(ids, 1, 0); err != nil || n != 300 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	a := appendDurably(t, l, autoBatch(t, 300, 2, 0), 1, 5000) // acknowledged, fsynced
	end := l.LogEnd()

	// A follower copying the leader's log byte for byte.
	f, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	var replicaErr error
	for from := uint64(0); from < end && replicaErr == nil; {
		res, err := l.Read(from, 1<<20, end, nil)
		if err != nil {
			t.Fatal(err)
		}
		for rest := res.Data; len(rest) > 0 && replicaErr == nil; {
			h, _ := batch.ReadHeader(rest)
			_, replicaErr = f.AppendReplica(bytes.Clone(rest[:h.Length]))
			rest = rest[h.Length:]
		}
		from = res.Next
	}
	if replicaErr != nil {
		t.Errorf("follower refuses the leader's XDEL batch: %v", replicaErr)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, rec := openLog(t, cfg)
	if l2.LogEnd() != end || l2.Len() != 2 || rec.Cut.Bytes != 0 {
		t.Fatalf("after reopen: end %d (want %d), Len %d (want 2), cut %+v: the durable append at %d..%d was lost",
			l2.LogEnd(), end, l2.Len(), rec.Cut, a.BaseOffset, a.NextOffset)
	}
}

// segment.go:135 and open.go:192-195: MaxBatchBytes is documented as a bound on what Append
// accepts, yet recovery uses it to judge batches already on disk. Lowering it in the config and
// restarting silently cuts valid, fsynced, acknowledged batches of the active segment as "corrupt"
// (and makes sealed segments' scans fail with ErrCorrupt).
func TestReviewLoweringMaxBatchBytesCutsValidDataOnReopen(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	appendDurably(t, l, autoBatch(t, 0, 100, 0), 1, 1000) // about 2.6 KB, under the 4 KB limit
	appendDurably(t, l, autoBatch(t, 100, 1, 0), 1, 1001)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.MaxBatchBytes = 1 << 10
	l2, rec, err := Open(cfg)
	if err != nil {
		return // refusing to open is acceptable; cutting is not
	}
	defer l2.Close()
	if l2.LogEnd() != 101 || rec.Cut.Bytes != 0 {
		t.Fatalf("reopen with a lower MaxBatchBytes: end %d, cut %+v; want end 101 and nothing cut", l2.LogEnd(), rec.Cut)
	}
}

// open.go:174-175 and 150: readIndex indexes entries[0] after decodeIndex accepted an index file
// of a single (end) entry, which is empty entries: Open panics on a bad index file instead of
// rebuilding it, against "Nothing here panics on bad bytes".
func TestReviewSingleEntryIndexFilePanicsOpen(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	fill(t, l, 40, 10)
	if len(l.segments) < 2 {
		t.Fatalf("%d segments, want at least 2", len(l.segments))
	}
	seg := l.segments[0]
	indexPath, end := seg.indexPath(), seg.end
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(indexPath, encodeIndex(nil, end), 0o644); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Open panicked on a one-entry index file: %v", r)
			}
		}()
		l2, _, err := Open(cfg)
		if err == nil {
			_ = l2.Close()
		}
	}()
}

// sync.go:124-140: Close runs its final Sync, then takes the locks to record a clean shutdown. An
// Append that lands in between succeeds (under FsyncInterval it is acknowledged at once:
// DurableEnd = LogEnd), is never fsynced, and the meta file says CleanShutdown. After a power
// loss the append is gone and Recovery.Unclean is false, so design rule 3 (a replica that lost
// acknowledged entries rejoins as a learner) is not applied.
func TestReviewAppendDuringCloseIsLostWithACleanShutdownMark(t *testing.T) {
	crash := vfs.NewCrashFS()
	hfs := &hookFS{FS: crash}
	cfg := testConfig(t, hfs, "/data/p0", FsyncInterval)
	cfg.FsyncInterval = time.Hour
	l, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendDurably(t, l, autoBatch(t, 0, 1, 0), 1, 1000)
	var once sync.Once
	var late Appended
	var lateErr error
	hfs.setHooks(nil, func(string) {
		once.Do(func() { late, lateErr = l.Append(autoBatch(t, 1, 1, 0), 1, 1001) })
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if lateErr != nil {
		return // refused: fine
	}
	if err := l.WaitDurable(context.Background(), late.NextOffset); err != nil {
		return // not acknowledged: fine
	}
	crash.Crash()
	hfs.setHooks(nil, nil)
	l2, rec := openLog(t, cfg)
	if l2.LogEnd() < late.NextOffset && !rec.Unclean {
		t.Fatalf("an append acknowledged during Close was lost (end %d, want %d) and the recovery reports a clean shutdown",
			l2.LogEnd(), late.NextOffset)
	}
}

// open.go:356-362 / append.go:297-298: tombstones are applied to any offset below the control
// batch, control records included. A tombstone aimed at a control record (from a peer through
// AppendReplica, or a caller's control batch through Append) is subtracted from the data-record
// count: Len (XLEN) and the MAXLEN trims built on it go wrong (a segment holding only control
// records even underflows).
func TestReviewTombstoneOfAControlRecordCorruptsLen(t *testing.T) {
	l, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	fill(t, l, 1, 5) // offsets 0..4
	if n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 0}}, 1, 0); err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	// Offset 5 is the Delete's control record; a tombstone for it deletes no data record.
	if _, err := l.Append(controlTombstones(t, 5), 1, 0); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return // refused: fine
		}
		t.Fatal(err)
	}
	if got := len(readAllFrom(t, l, 0)); l.Len() != uint64(got) {
		t.Fatalf("Len %d but %d records are visible", l.Len(), got)
	}
}
