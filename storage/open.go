package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// lockFileName is the lock that keeps two logs (in one process or two) off one directory.
const lockFileName = ".lock"

// Open opens (creating if needed) the log in cfg.Dir and recovers it: see Recovery.
func Open(cfg Config) (*Log, Recovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Recovery{}, err
	}
	cfg = cfg.withDefaults()
	l := &Log{cfg: cfg, fs: cfg.FS, log: cfg.Logger, durableChanged: make(chan struct{})}
	rec, err := l.recover()
	if err != nil {
		l.closeFiles()
		return nil, rec, err
	}
	l.startSyncer()
	return l, rec, nil
}

func (l *Log) recover() (Recovery, error) {
	dir := l.cfg.Dir
	if err := l.makeDirDurably(dir); err != nil {
		return Recovery{}, err
	}
	lock, err := l.fs.Lock(filepath.Join(dir, lockFileName))
	if errors.Is(err, vfs.ErrLocked) {
		return Recovery{}, fmt.Errorf("%w: %s is open in another process or log: stop that one first, or use another directory", ErrLocked, dir)
	}
	if err != nil {
		return Recovery{}, fmt.Errorf("storage: lock %s: %w", dir, err)
	}
	l.lock = lock
	meta, found, err := readMeta(l.fs, dir)
	if err != nil {
		return Recovery{}, err
	}
	l.meta = meta
	rec := Recovery{Unclean: found && !meta.CleanShutdown}
	bases, err := l.listSegments(&rec)
	if err != nil {
		return rec, err
	}
	if err := l.openSegments(bases, &rec); err != nil {
		return rec, err
	}
	if err := l.recoverState(); err != nil {
		return rec, err
	}
	rec.Segments = len(l.segments)
	l.reportRecovery(rec)
	m := l.meta
	m.CleanShutdown = false
	if err := l.saveMetaLocked(m); err != nil {
		return rec, err
	}
	return rec, nil
}

// listSegments returns the base offsets of the segments to open, removing leftovers: temporary
// files and segments wholly below the log start (a retention interrupted by a crash).
func (l *Log) listSegments(rec *Recovery) ([]uint64, error) {
	names, err := l.fs.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list %s: %w", l.cfg.Dir, err)
	}
	var bases []uint64
	for _, name := range names {
		if base, ok := parseSegmentName(name); ok {
			bases = append(bases, base)
		} else if strings.HasSuffix(name, ".tmp") {
			l.removeFile(name, rec)
		}
	}
	slices.Sort(bases)
	for len(bases) > 1 && bases[1] <= l.meta.LogStart {
		l.removeFile(segmentName(bases[0]), rec)
		l.removeFile(indexName(bases[0]), rec)
		bases = bases[1:]
	}
	return bases, nil
}

func (l *Log) removeFile(name string, rec *Recovery) {
	path := filepath.Join(l.cfg.Dir, name)
	if err := l.fs.Remove(path); err == nil {
		rec.RemovedFiles = append(rec.RemovedFiles, path)
	}
}

func (l *Log) openSegments(bases []uint64, rec *Recovery) error {
	if len(bases) == 0 {
		bases = []uint64{l.meta.LogStart}
	}
	for i, base := range bases {
		seg, err := l.openSegment(base)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, seg)
		if i > 0 && base != l.segments[i-1].nextOffset() {
			return fmt.Errorf("%w: %s starts at offset %d but the segment before it ends at %d",
				ErrCorrupt, seg.path, base, l.segments[i-1].nextOffset())
		}
		if i < len(bases)-1 {
			err = l.loadSealed(seg, rec)
		} else {
			err = l.recoverActive(seg, rec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) openSegment(base uint64) (*segment, error) {
	path := filepath.Join(l.cfg.Dir, segmentName(base))
	file, err := l.fs.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	return newSegment(l.cfg.Dir, base, file), nil
}

// loadSealed reads a sealed segment's index, or rebuilds it by scanning the segment; a sealed
// segment must be whole, so a bad batch in it is an error.
func (l *Log) loadSealed(seg *segment, rec *Recovery) error {
	size, err := seg.file.Size()
	if err != nil {
		return fmt.Errorf("storage: size of %s: %w", seg.path, err)
	}
	if entries, end, err := l.readIndex(seg, size); err == nil {
		seg.entries, seg.end, seg.size = entries, end, size
		seg.lastIndexedPos = int64(entries[len(entries)-1].position)
		return nil
	}
	state := scanState{lastID: l.diskIDBefore(seg)}
	if pos, err := l.scanSegment(seg, size, &state, nil); err != nil {
		return corruptAt(seg.path, pos, seg.nextOffset(), err)
	}
	if err := l.writeIndex(seg); err != nil {
		return fmt.Errorf("storage: rebuild index: %w", err)
	}
	rec.RebuiltIndexes = append(rec.RebuiltIndexes, seg.indexPath())
	return nil
}

func (l *Log) readIndex(seg *segment, size int64) ([]indexEntry, indexEntry, error) {
	f, err := l.fs.OpenFile(seg.indexPath(), os.O_RDONLY, 0)
	if err != nil {
		return nil, indexEntry{}, err
	}
	defer f.Close()
	b, err := readWhole(f, size/int64(indexEntrySize)*indexEntrySize+1<<20)
	if err != nil {
		return nil, indexEntry{}, err
	}
	entries, end, err := decodeIndex(b, seg.baseOffset, size)
	if err == nil && entries[0] != startEntry(seg.baseOffset) {
		err = fmt.Errorf("%w: first entry is not the segment start", errBadIndex)
	}
	return entries, end, err
}

// recoverActive scans the active segment and cuts a torn or corrupt tail.
func (l *Log) recoverActive(seg *segment, rec *Recovery) error {
	size, err := seg.file.Size()
	if err != nil {
		return fmt.Errorf("storage: size of %s: %w", seg.path, err)
	}
	state := scanState{lastID: l.diskIDBefore(seg)}
	pos, scanErr := l.scanSegment(seg, size, &state, l.noteEpoch)
	if !seg.empty() {
		// The file does not say when its first batch came; the age clock restarts with the
		// process, so a restart never rolls a segment early.
		seg.createdAt = l.cfg.Now()
	}
	if scanErr == nil {
		return nil
	}
	if !errors.Is(scanErr, errTorn) && !errors.Is(scanErr, batch.ErrCorrupt) {
		return scanErr // an I/O error: nothing is cut on a read that failed
	}
	rec.Cut = Cut{File: seg.path, Position: pos, Bytes: size - pos, FromOffset: seg.nextOffset(), Reason: scanErr.Error()}
	if err := seg.file.Truncate(pos); err != nil {
		return fmt.Errorf("storage: cut %s at %d: %w", seg.path, pos, err)
	}
	if err := seg.file.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s after cut: %w", seg.path, err)
	}
	return nil
}

// diskIDBefore is the last data id in the segment files before seg (all of them for nil): what
// the next batch on disk must rise above.
func (l *Log) diskIDBefore(seg *segment) batch.ID {
	var last batch.ID
	for _, s := range l.segments {
		if s == seg {
			break
		}
		if s.end.dataRecordsBefore > 0 && last.Less(s.end.lastIDBefore) {
			last = s.end.lastIDBefore
		}
	}
	return last
}

// lastIDLocked is the log's last id: the last on disk, or the last of records that retention
// removed (Redis keeps the last id of a stream emptied by XTRIM).
func (l *Log) lastIDLocked() batch.ID {
	last := l.meta.LastIDFloor
	if disk := l.diskIDBefore(nil); last.Less(disk) {
		last = disk
	}
	if l.setID != nil && last.Less(l.setID.LastID) {
		last = l.setID.LastID
	}
	return last
}

// scanState carries what consecutive batches must agree on.
type scanState struct {
	lastEpoch uint64
	lastID    batch.ID
}

// scanSegment adds every valid batch of seg's file (from its current end up to size) to seg and
// calls visit (if not nil) with each; it returns the position where it stopped and why (nil at a
// clean end of file).
func (l *Log) scanSegment(seg *segment, size int64, state *scanState, visit func(batch.Header, []byte)) (int64, error) {
	sc := newScanner(seg.file, seg.path, seg.size, size, l.scratch)
	defer func() { l.scratch = sc.buf }()
	for {
		h, b, pos, err := sc.next()
		if errors.Is(err, io.EOF) {
			return pos, nil
		}
		if err == nil {
			err = state.check(h, seg.nextOffset())
		}
		if err != nil {
			return pos, err
		}
		seg.add(h, pos, l.cfg.IndexIntervalBytes)
		if visit != nil {
			visit(h, b)
		}
	}
}

func (st *scanState) check(h batch.Header, wantOffset uint64) error {
	switch {
	case h.BaseOffset != wantOffset:
		return fmt.Errorf("%w: base offset %d, want %d", batch.ErrCorrupt, h.BaseOffset, wantOffset)
	case h.LeaderEpoch < st.lastEpoch:
		return fmt.Errorf("%w: epoch %d after %d", batch.ErrCorrupt, h.LeaderEpoch, st.lastEpoch)
	case !h.IsControl() && !st.lastID.Less(h.FirstID):
		return fmt.Errorf("%w: id %v not above %v", batch.ErrCorrupt, h.FirstID, st.lastID)
	case h.Attributes&batch.AttrAutoID != 0:
		return fmt.Errorf("%w: unstamped auto-id batch", batch.ErrCorrupt)
	}
	st.lastEpoch = h.LeaderEpoch
	if !h.IsControl() {
		st.lastID = h.LastID
	}
	return nil
}

// noteEpoch remembers where each epoch starts in the scanned active segment; recoverState
// merges this into the history (a meta file restored from elsewhere can lag the log).
func (l *Log) noteEpoch(h batch.Header, _ []byte) {
	if n := len(l.scannedEpochs); n == 0 || l.scannedEpochs[n-1].Epoch < h.LeaderEpoch {
		l.scannedEpochs = append(l.scannedEpochs, EpochStart{Epoch: h.LeaderEpoch, StartOffset: h.BaseOffset})
	}
}

// recoverState derives the log's state from the opened segments and the meta file.
func (l *Log) recoverState() error {
	next := l.nextOffset()
	if l.meta.LogStart > next {
		return fmt.Errorf("%w: %s says the log starts at %d but the segments end at %d (the segment files were lost or replaced)",
			ErrCorrupt, filepath.Join(l.cfg.Dir, metaFileName), l.meta.LogStart, next)
	}
	l.lastID = l.lastIDLocked()
	l.meta.Epochs = truncateEpochs(l.meta.Epochs, next)
	for _, e := range l.scannedEpochs {
		if e.Epoch > l.lastEpochLocked() {
			l.meta.Epochs = append(l.meta.Epochs, e)
		}
	}
	l.scannedEpochs = nil
	var err error
	if l.dataBelowStart, err = l.countDataBelow(l.segments[0], l.meta.LogStart); err != nil {
		return err
	}
	// A tombstone whose control record did not survive the crash is dropped with it.
	l.tombstones = tombstonesFromPairs(l.meta.Tombstones).onlyBefore(next)
	if l.meta.SetID != nil && l.meta.SetID.At < next {
		l.setID = l.meta.SetID
	}
	if err := l.scanTombstones(min(l.meta.TombstonesThrough, next)); err != nil {
		return err
	}
	l.lastID = l.lastIDLocked()
	// Everything left on disk after recovery is made durable now, so that SyncedEnd is true.
	if err := l.active().file.Sync(); err != nil {
		return fmt.Errorf("storage: sync %s: %w", l.active().path, err)
	}
	l.syncedEnd = next
	return nil
}

// truncateEpochs drops the epochs that start at or after end (their batches are gone).
func truncateEpochs(epochs []EpochStart, end uint64) []EpochStart {
	i := len(epochs)
	for i > 0 && epochs[i-1].StartOffset >= end {
		i--
	}
	return epochs[:i]
}

// scanTombstones applies the tombstones of control batches from offset from to the log end.
func (l *Log) scanTombstones(from uint64) error {
	for _, seg := range l.segments {
		if seg.nextOffset() <= from {
			continue
		}
		start := entryForOffset(seg.entries, from)
		sc := newScanner(seg.file, seg.path, int64(start.position), seg.size, l.scratch)
		for {
			h, b, pos, err := sc.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return corruptAt(seg.path, pos, h.BaseOffset, err)
			}
			if h.IsControl() && h.BaseOffset >= from {
				l.applyTombstones(b, h)
			}
		}
		l.scratch = sc.buf
	}
	return nil
}

// applyTombstones applies the control records of a batch that storage itself keeps: tombstones
// join the set, an XSETID becomes the stream's figures.
func (l *Log) applyTombstones(b []byte, h batch.Header) {
	it := batch.Iterate(b, h)
	for it.Next() {
		r := it.Record()
		if offset, ok := batch.TombstoneOffset(r); ok && offset >= l.meta.LogStart && offset < h.BaseOffset {
			l.tombstones.add(tombstone{offset: offset, by: r.Offset})
		}
		if v, ok := batch.ParseSetIDValue(r); ok {
			added, err := l.dataBetweenLocked(l.meta.LogStart, r.Offset)
			if err != nil {
				l.log.Warn("storage: count records before an XSETID", "dir", l.cfg.Dir, "err", err)
			}
			l.setID = &SetIDState{SetIDValue: v, At: r.Offset, AddedAt: l.meta.TrimmedRecords + added}
			if l.lastID.Less(v.LastID) {
				l.lastID = v.LastID
			}
		}
	}
}

func (l *Log) reportRecovery(rec Recovery) {
	if rec.Cut.Bytes > 0 {
		l.log.Warn("storage: cut a torn or corrupt tail", "file", rec.Cut.File, "position", rec.Cut.Position,
			"bytes", rec.Cut.Bytes, "from_offset", rec.Cut.FromOffset, "reason", rec.Cut.Reason)
	}
	for _, path := range rec.RebuiltIndexes {
		l.log.Warn("storage: rebuilt a missing or broken index", "file", path)
	}
	if rec.Unclean {
		l.log.Warn("storage: the log was not closed cleanly", "dir", l.cfg.Dir, "fsync", l.cfg.Fsync.String())
	}
}

// closeFiles closes every segment file and releases the directory lock.
func (l *Log) closeFiles() {
	for _, seg := range l.segments {
		_ = seg.file.Close()
	}
	if l.lock != nil {
		_ = l.lock.Close()
	}
}

// makeDirDurably creates dir and any missing parents, and syncs the parent of each directory it
// created: a new directory's entry is durable only once its parent is synced.
func (l *Log) makeDirDurably(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := l.fs.ReadDir(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("storage: create %s: %w", dir, err)
	}
	for _, d := range missing {
		if err := l.fs.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("storage: sync %s: %w", filepath.Dir(d), err)
		}
	}
	return nil
}
