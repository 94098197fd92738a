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

// retention.go:335-343 (offsetOfIDLocked) with read.go:214 (findFirstLocked clamps to LogStart):
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

// log.go:199-200 (saveMetaLocked checkpoints l.tombstones through nextOffset, synced or not) with
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
	// (The gate gives up after a while, so a log that fsyncs the segment under its lock before
	// writing the meta file does not deadlock here: it just makes the delete durable.)
	gate := make(chan struct{})
	hfs.setHooks(func(string) {
		select {
		case <-gate:
		case <-time.After(2 * time.Second):
		}
	}, nil)
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
	// Record 1 may be hidden only if the control batch that deletes it (offset 5) survived.
	if deleteSurvived := l2.LogEnd() >= 6; hasOffset(got, 1) == deleteSurvived || l2.Len() != uint64(len(got)) {
		t.Fatalf("after power loss: end %d, Len %d, read %d, offset 1 visible %v; the XDEL batch at 5 survived: %v",
			l2.LogEnd(), l2.Len(), len(got), hasOffset(got, 1), deleteSurvived)
	}
}

// retention.go:314-325 (Delete builds one control batch with no size limit) with segment.go:131-137
// (the recovery scanner calls a batch above MaxBatchBytes corrupt when it straddles its 1 MiB read
// window): an XDEL of many ids writes a batch above MaxBatchBytes. Followers refuse it
// (AppendReplica: ErrTooLarge, replication stalls), and when it straddles the scanner's window the
// next Open cuts the active segment at it, losing the tombstones and every fsynced append after
// them.
func TestReviewLargeDeleteIsCutOnReopenWithTheAppendsAfterIt(t *testing.T) {
	cfg := testConfig(t, vfs.NewCrashFS(), "/data/p0", FsyncAlways)
	cfg.SegmentBytes = 4 << 20
	l, _ := openLog(t, cfg)
	// Fill the active segment to just below the scanner's 1 MiB window.
	seq := 0
	for i := 0; l.active().size < scanChunkBytes-5000; i++ {
		appendDurably(t, l, autoBatch(t, seq, 100, 0), 1, uint64(1000+i))
		seq += 100
	}
	var ids []batch.ID
	for i := range 3 {
		for s := range 100 {
			ids = append(ids, batch.ID{Ms: uint64(1000 + i), Seq: uint64(s)})
		}
	}
	if n, err := l.Delete(ids, 1, 0); err != nil || n != 300 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	a := appendDurably(t, l, autoBatch(t, seq, 2, 0), 1, 1<<40) // acknowledged, fsynced
	end, live := l.LogEnd(), l.Len()

	// A follower copying the leader's log byte for byte.
	f, _ := openLog(t, testConfig(t, vfs.NewCrashFS(), "/data/f0", FsyncNever))
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
	if l2.LogEnd() != end || l2.Len() != live || rec.Cut.Bytes != 0 {
		t.Fatalf("after reopen: end %d (want %d), Len %d (want %d), cut %+v: the durable append at %d..%d was lost",
			l2.LogEnd(), end, l2.Len(), live, rec.Cut, a.BaseOffset, a.NextOffset)
	}
}

// segment.go:131-137 and open.go:192-195: MaxBatchBytes is documented as a bound on what Append
// accepts, yet the recovery scanner uses it to judge batches already on disk (whenever a batch
// straddles its 1 MiB read window). Lowering it in the config and restarting cuts valid, fsynced,
// acknowledged batches of the active segment as "corrupt", with everything after them (and
// makes scans of sealed segments fail with ErrCorrupt).
func TestReviewLoweringMaxBatchBytesCutsValidDataOnReopen(t *testing.T) {
	cfg := testConfig(t, vfs.NewCrashFS(), "/data/p0", FsyncAlways)
	cfg.SegmentBytes, cfg.MaxBatchBytes = 4<<20, 64<<10
	l, _ := openLog(t, cfg)
	seq := 0
	for i := 0; l.active().size < scanChunkBytes+(256<<10); i++ {
		appendDurably(t, l, autoBatch(t, seq, 1000, 0), 1, uint64(1000+i)) // about 27 KB each
		seq += 1000
	}
	end := l.LogEnd()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.MaxBatchBytes = 16 << 10
	l2, rec, err := Open(cfg)
	if err != nil {
		return // refusing to open is acceptable; cutting is not
	}
	defer l2.Close()
	if l2.LogEnd() != end || rec.Cut.Bytes != 0 {
		t.Fatalf("reopen with a lower MaxBatchBytes: end %d, cut %+v; want end %d and nothing cut", l2.LogEnd(), rec.Cut, end)
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

// sync.go:128-149: Close runs its final Sync, then takes the locks to record a clean shutdown. An
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
	done, fired := make(chan struct{}), false
	hfs.setHooks(nil, func(string) {
		once.Do(func() {
			fired = true
			// Append from another goroutine; a Close that holds the lock across its final fsync
			// blocks it, so wait only a little before letting Close go on.
			go func() {
				defer close(done)
				late, lateErr = l.Append(autoBatch(t, 1, 1, 0), 1, 1001)
			}()
			select {
			case <-done:
			case <-time.After(200 * time.Millisecond):
			}
		})
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	hfs.setHooks(nil, nil)
	if !fired {
		return // Close did not fsync a segment: nothing raced
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the racing Append never returned")
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

// open.go:356-362 / append.go:122-123: tombstones are applied to any offset below the control
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

// read.go:59 and 168-175: ReadResult.Deleted lists every tombstone in [From, Next), including
// those carried by control batches above upTo (the commit point). A consumer reading only
// committed records is shown the effect of an uncommitted XDEL: the record is hidden now and
// reappears if that XDEL is lost in a failover.
func TestReviewReadHidesRecordsDeletedByUncommittedTombstones(t *testing.T) {
	l, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	fill(t, l, 1, 5) // offsets 0..4
	if n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 1}}, 1, 0); err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	committed := uint64(5) // the control batch at 5 is not committed
	res, err := l.Read(0, 1<<20, committed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Next != 5 || len(res.Deleted) != 0 {
		t.Fatalf("Read up to %d: next %d, deleted %v; want next 5 and no deletion (the XDEL at 5 is not committed)",
			committed, res.Next, res.Deleted)
	}
}

// read.go:214 (findFirstLocked returns max(offset, LogStart)): timestamps are not monotonic, so
// clamping a match below the log start to the log start gives a record whose timestamp is below
// the one asked for. Here no live record has a timestamp at or above 150, yet OffsetForTime(150)
// returns the log start (whose timestamp is 50) instead of LogEnd.
func TestReviewOffsetForTimeClampsToARecordBelowTheTime(t *testing.T) {
	l, _ := openLog(t, testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways))
	appendDurably(t, l, autoBatch(t, 0, 5, 200), 1, 1000) // offsets 0..4, timestamp 200
	appendDurably(t, l, autoBatch(t, 5, 5, 50), 1, 1001)  // offsets 5..9, timestamp 50
	if _, err := l.Trim(Trim{MaxLen: 5}); err != nil || l.LogStart() != 5 {
		t.Fatalf("Trim: %v, start %d", err, l.LogStart())
	}
	got, err := l.OffsetForTime(150)
	if err != nil {
		t.Fatal(err)
	}
	if got != l.LogEnd() {
		t.Fatalf("OffsetForTime(150) = %d (a record of timestamp 50); want LogEnd %d", got, l.LogEnd())
	}
}

// segment.go:52-53 and append.go:139: createdAt is not restored by Open, so with SegmentAge set
// the first append after every reopen sees a zero createdAt and rolls the active segment at once,
// however young it is (a tiny segment and index per restart).
func TestReviewSegmentAgeRollsOnFirstAppendAfterReopen(t *testing.T) {
	clock := &testClock{now: time.Unix(1_000_000, 0)}
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	cfg.SegmentAge, cfg.Now = time.Hour, clock.Now
	l, _ := openLog(t, cfg)
	appendDurably(t, l, autoBatch(t, 0, 1, 0), 1, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	clock.now = clock.now.Add(time.Second)
	l2, _ := openLog(t, cfg)
	appendDurably(t, l2, autoBatch(t, 1, 1, 0), 1, 1001)
	if n := len(l2.segments); n != 1 {
		t.Fatalf("%d segments after one append to a one-second-old segment; want 1 (SegmentAge is an hour)", n)
	}
}
