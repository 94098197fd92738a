package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Trim is a Redis XTRIM: keep at most MaxLen live records (ByMinID false) or drop the records
// whose id is below MinID (ByMinID true). Approx ("~") removes whole segments only, which is
// cheap and keeps a little more than asked.
type Trim struct {
	ByMinID bool
	MaxLen  uint64
	MinID   batch.ID
	Approx  bool
}

// Trim removes records from the front of the log as t says and returns how many live records it
// removed. Exact trims move the log start inside a segment; whole segments are deleted.
func (l *Log) Trim(t Trim) (uint64, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	before := l.liveRecordsLocked()
	newStart, err := l.trimStartLocked(t)
	if err == nil {
		err = l.moveLogStartLocked(newStart)
	}
	return before - l.liveRecordsLocked(), err
}

// trimStartLocked returns the log start that t asks for (at or below the current one: nothing to
// do).
func (l *Log) trimStartLocked(t Trim) (uint64, error) {
	switch {
	case t.ByMinID && t.Approx:
		return l.wholeSegmentsBelow(func(s *segment) bool { return s.end.lastIDBefore.Less(t.MinID) }), nil
	case t.ByMinID:
		return l.offsetOfFirstLocked(searchID(t.MinID))
	case t.Approx:
		return l.approxMaxLenStart(t.MaxLen), nil
	default:
		return l.exactMaxLenStart(t.MaxLen)
	}
}

// PlanTrim returns the log start Trim(t) would move to, and how many live records it would
// remove, without changing anything: a replicated partition's leader plans a trim, logs the new
// start, and every replica applies it with TrimTo once it commits. Only records below upTo (the
// commit point) are trimmed: a trim never removes what a failover could still truncate.
func (l *Log) PlanTrim(t Trim, upTo uint64) (start, removed uint64, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	start, err = l.trimStartLocked(t)
	if err != nil {
		return 0, 0, err
	}
	start = min(start, upTo, l.nextOffset())
	if start <= l.meta.LogStart {
		return l.meta.LogStart, 0, nil
	}
	live, err := l.liveBetweenLocked(l.meta.LogStart, start)
	return start, live, err
}

// TrimTo moves the log start to start (no-op at or below the current one; at most the log end)
// and returns how many live records went.
func (l *Log) TrimTo(start uint64) (uint64, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	before := l.liveRecordsLocked()
	err := l.moveLogStartLocked(min(start, l.nextOffset()))
	return before - l.liveRecordsLocked(), err
}

// LiveBetween counts the live data records with offsets in [from, to).
func (l *Log) LiveBetween(from, to uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.liveBetweenLocked(max(from, l.meta.LogStart), to)
}

// liveBetweenLocked counts the live data records with offsets in [from, to).
func (l *Log) liveBetweenLocked(from, to uint64) (uint64, error) {
	n, err := l.dataBetweenLocked(from, to)
	return n - uint64(l.tombstones.countIn(from, to)), err
}

// dataBetweenLocked counts the data records (deleted ones too) with offsets in [from, to).
func (l *Log) dataBetweenLocked(from, to uint64) (uint64, error) {
	var n uint64
	for _, s := range l.segments {
		lo, hi := max(from, s.baseOffset), min(to, s.nextOffset())
		if lo >= hi {
			continue
		}
		below, err := l.countDataBelow(s, hi)
		if err != nil {
			return 0, err
		}
		above, err := l.countDataBelow(s, lo)
		if err != nil {
			return 0, err
		}
		n += below - above
	}
	return n, nil
}

// StreamStats are the log's figures as a Redis stream.
type StreamStats struct {
	// Len is the number of live data records (XLEN); Added the data records ever appended
	// (entries-added), trimmed and deleted ones included.
	Len, Added uint64
	// LastID is the last id (XADD's floor); MaxDeletedOffset the highest deleted offset still
	// above the log start, and HasDeleted whether there is one.
	LastID           batch.ID
	MaxDeletedOffset uint64
	HasDeleted       bool
	// SetMaxDeletedID is the max deleted id the newest XSETID set (0-0: none).
	SetMaxDeletedID batch.ID
}

// ErrSetIDTooSmall is XSETID's error for an id below the stream's last id.
var ErrSetIDTooSmall = errors.New("ERR The ID specified in XSETID is smaller than the target stream top item")

// ErrSetIDEntriesAdded is XSETID's error for an entries-added below the stream's length.
var ErrSetIDEntriesAdded = errors.New("ERR The entries_added specified in XSETID is smaller than the target stream length")

// SetID is XSETID as the leader of epoch: it checks v against the stream (the id must not be
// below the last id of the log, deleted records included; entries-added not below the length)
// and appends it as a control record. Every replica applies it when it appends it.
func (l *Log) SetID(v batch.SetIDValue, epoch uint64, nowMs int64) (Appended, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkEpochLocked(epoch); err != nil {
		return Appended{}, err
	}
	if v.LastID.Less(l.lastID) {
		return Appended{}, ErrSetIDTooSmall
	}
	if v.EntriesAdded >= 0 && uint64(v.EntriesAdded) < l.liveRecordsLocked() {
		return Appended{}, ErrSetIDEntriesAdded
	}
	b := batch.NewBuilder(batch.HeaderSize + 64)
	b.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
	if err := b.Add(batch.ID{}, nowMs, []byte{batch.ControlSetID}, batch.AppendSetIDValue(nil, v), nil); err != nil {
		return Appended{}, err
	}
	data, err := b.Finish()
	if err != nil {
		return Appended{}, err
	}
	return l.stampAndWriteLocked(data, epoch)
}

// StreamStats returns the log's figures as a Redis stream.
func (l *Log) StreamStats() StreamStats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	st := StreamStats{Len: l.liveRecordsLocked(), LastID: l.lastIDLocked(), Added: l.meta.TrimmedRecords}
	for _, seg := range l.segments {
		st.Added += l.dataInSegment(seg) // in memory: group reads ask for this on every plan
	}
	if s := l.setID; s != nil {
		st.SetMaxDeletedID = s.MaxDeletedID
		if s.EntriesAdded >= 0 {
			st.Added = uint64(s.EntriesAdded) + st.Added - min(st.Added, s.AddedAt)
		}
	}
	if n := len(l.tombstones); n > 0 {
		st.MaxDeletedOffset, st.HasDeleted = l.tombstones[n-1].offset, true
	}
	return st
}

// EnforceRetention applies the configured Retention at time nowMs, deleting whole sealed
// segments (and the active one, after rolling it, when all of it has expired by age). It returns
// the number of live records removed.
func (l *Log) EnforceRetention(nowMs int64) (uint64, error) {
	r := l.cfg.Retention
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	before := l.liveRecordsLocked()
	expired := func(s *segment) bool { return s.end.maxTimestampBefore < nowMs-r.MaxAge.Milliseconds() }
	if r.MaxAge > 0 && !l.active().empty() && expired(l.active()) {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
	}
	newStart := l.meta.LogStart
	if r.MaxAge > 0 {
		newStart = max(newStart, l.wholeSegmentsBelow(expired))
	}
	if r.MaxBytes > 0 {
		newStart = max(newStart, l.bytesRetentionStart(r.MaxBytes))
	}
	if r.MaxRecords > 0 {
		newStart = max(newStart, l.approxMaxLenStart(r.MaxRecords))
	}
	err := l.moveLogStartLocked(newStart)
	return before - l.liveRecordsLocked(), err
}

// wholeSegmentsBelow returns the base of the first segment that is active or not droppable:
// the new log start when the leading droppable segments go.
func (l *Log) wholeSegmentsBelow(droppable func(*segment) bool) uint64 {
	for _, s := range l.segments[:len(l.segments)-1] {
		if !droppable(s) {
			return max(s.baseOffset, l.meta.LogStart)
		}
	}
	return max(l.active().baseOffset, l.meta.LogStart)
}

func (l *Log) bytesRetentionStart(maxBytes int64) uint64 {
	var total int64
	for _, s := range l.segments {
		total += s.size
	}
	return l.wholeSegmentsBelow(func(s *segment) bool {
		if total-s.size < maxBytes {
			return false
		}
		total -= s.size
		return true
	})
}

// approxMaxLenStart drops leading sealed segments while at least maxLen live records remain.
func (l *Log) approxMaxLenStart(maxLen uint64) uint64 {
	live := l.liveRecordsLocked()
	return l.wholeSegmentsBelow(func(s *segment) bool {
		n := l.liveInSegment(s)
		if live-n < maxLen {
			return false
		}
		live -= n
		return true
	})
}

// exactMaxLenStart returns the offset of the first live record to keep so that maxLen remain.
func (l *Log) exactMaxLenStart(maxLen uint64) (uint64, error) {
	live := l.liveRecordsLocked()
	if live <= maxLen {
		return l.meta.LogStart, nil
	}
	drop := live - maxLen
	for _, s := range l.segments {
		n := l.liveInSegment(s)
		if drop >= n {
			drop -= n
			continue
		}
		return l.nthLiveRecord(s, drop)
	}
	return l.nextOffset(), nil
}

// nthLiveRecord returns the offset of the live data record that has n live records before it in
// seg, counting from the log start.
func (l *Log) nthLiveRecord(seg *segment, n uint64) (uint64, error) {
	from := max(seg.baseOffset, l.meta.LogStart)
	start := entryForOffset(seg.entries, from)
	sc := newScanner(seg.file, seg.path, int64(start.position), seg.size, nil)
	for {
		h, b, at, err := sc.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return seg.nextOffset(), nil
			}
			return 0, corruptAt(seg.path, at, h.BaseOffset, err)
		}
		if h.IsControl() || h.NextOffset() <= from {
			continue
		}
		it := batch.Iterate(b, h)
		for it.Next() {
			r := it.Record()
			if r.Offset < from || l.isDeleted(r.Offset) {
				continue
			}
			if n == 0 {
				return r.Offset, nil
			}
			n--
		}
	}
}

func (l *Log) isDeleted(offset uint64) bool {
	return l.tombstones.contains(offset)
}

// liveRecordsLocked counts the data records from the log start that are not deleted.
func (l *Log) liveRecordsLocked() uint64 {
	var n uint64
	for _, s := range l.segments {
		n += l.liveInSegment(s)
	}
	return n
}

// liveInSegment counts the live data records of s at or above the log start.
func (l *Log) liveInSegment(s *segment) uint64 {
	if s.nextOffset() <= l.meta.LogStart {
		return 0
	}
	from := max(s.baseOffset, l.meta.LogStart)
	return l.dataInSegment(s) - uint64(l.tombstones.countIn(from, s.nextOffset()))
}

// dataInSegment counts the data records of s at or above the log start, deleted ones too, from
// the segment's in-memory counts (no I/O).
func (l *Log) dataInSegment(s *segment) uint64 {
	if s.nextOffset() <= l.meta.LogStart {
		return 0
	}
	n := uint64(s.end.dataRecordsBefore)
	if s == l.segments[0] {
		n -= l.dataBelowStart
	}
	return n
}

// moveLogStartLocked makes newStart the log start (if it is above the current one): the meta
// file first, then the segments wholly below it are deleted.
func (l *Log) moveLogStartLocked(newStart uint64) error {
	if newStart <= l.meta.LogStart {
		return nil
	}
	drop := 0
	for drop < len(l.segments)-1 && l.segments[drop+1].baseOffset <= newStart {
		drop++
	}
	// The records below the new start must be on disk before the start moves past them, or a
	// crash could leave a log start above the log end.
	if newStart > l.syncedEnd {
		if err := l.active().file.Sync(); err != nil {
			return l.failLocked(fmt.Errorf("sync %s: %w", l.active().path, err))
		}
		l.syncedToLocked(l.nextOffset())
	}
	trimmed, err := l.dataBetweenLocked(l.meta.LogStart, newStart)
	if err != nil {
		return err
	}
	m := l.meta
	m.LogStart = newStart
	m.TrimmedRecords += trimmed
	if newStart == l.nextOffset() && m.LastIDFloor.Less(l.lastID) {
		m.LastIDFloor = l.lastID // nothing left to read; the last id must survive the segments
	}
	for _, s := range l.segments[:drop] {
		if s.end.dataRecordsBefore > 0 && m.LastIDFloor.Less(s.end.lastIDBefore) {
			m.LastIDFloor = s.end.lastIDBefore
		}
	}
	l.tombstones = l.tombstones.withoutBelow(newStart)
	if err := l.saveMetaLocked(m); err != nil {
		return err
	}
	removed := l.segments[:drop]
	l.segments = slices.Clone(l.segments[drop:])
	if err := l.removeSegmentFiles(removed); err != nil {
		// The meta file already moved the log start past them: the next Open removes them.
		l.log.Warn("storage: could not remove old segments", "dir", l.cfg.Dir, "err", err)
	}
	l.dataBelowStart, err = l.countDataBelow(l.segments[0], newStart)
	return err
}

// removeSegmentFiles closes and deletes the files of segments that left the log.
func (l *Log) removeSegmentFiles(removed []*segment) error {
	if len(removed) == 0 {
		return nil
	}
	var errs []error
	for _, s := range removed {
		errs = append(errs, s.file.Close(), l.fs.Remove(s.path))
		if err := l.fs.Remove(s.indexPath()); err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.fs.SyncDir(l.cfg.Dir))
	return errors.Join(errs...)
}

// countDataBelow counts the data records of seg with offsets below offset.
func (l *Log) countDataBelow(seg *segment, offset uint64) (uint64, error) {
	if offset <= seg.baseOffset {
		return 0, nil
	}
	start := entryForOffset(seg.entries, offset)
	n := uint64(start.dataRecordsBefore)
	sc := newScanner(seg.file, seg.path, int64(start.position), seg.size, nil)
	sc.chunk = lookupChunkBytes // from an index entry: usually within one index interval
	for {
		h, _, at, err := sc.next()
		if errors.Is(err, io.EOF) || (err == nil && h.BaseOffset >= offset) {
			return n, nil
		}
		if err != nil {
			return n, corruptAt(seg.path, at, h.BaseOffset, err)
		}
		if !h.IsControl() {
			n += min(uint64(h.RecordCount), offset-h.BaseOffset)
		}
	}
}

// Delete marks the records with the given ids deleted (Redis XDEL) by appending one control
// batch of tombstones in epoch; it returns how many of the ids existed and were not deleted yet.
// Reads report deleted offsets (ReadResult.Deleted) and Records skips them.
func (l *Log) Delete(ids []batch.ID, epoch uint64, nowMs int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkEpochLocked(epoch); err != nil {
		return 0, err
	}
	var offsets []uint64
	for _, id := range ids {
		offset, found, err := l.offsetOfIDLocked(id)
		if err != nil {
			return 0, err
		}
		if found && !l.isDeleted(offset) && !slices.Contains(offsets, offset) {
			offsets = append(offsets, offset)
		}
	}
	if err := l.writeTombstonesLocked(offsets, epoch, nowMs); err != nil {
		return 0, err
	}
	return len(offsets), nil
}

// tombstoneRecordBytes bounds the encoded size of one tombstone record, so that a control batch
// of tombstones stays within MaxBatchBytes.
const tombstoneRecordBytes = 48

// writeTombstonesLocked appends the tombstones for offsets in as many control batches as
// MaxBatchBytes requires.
func (l *Log) writeTombstonesLocked(offsets []uint64, epoch uint64, nowMs int64) error {
	perBatch := max(1, (l.cfg.MaxBatchBytes-batch.HeaderSize)/tombstoneRecordBytes)
	b := batch.NewBuilder(batch.HeaderSize + tombstoneRecordBytes*min(perBatch, len(offsets)))
	var value [8]byte
	for chunk := range slices.Chunk(offsets, perBatch) {
		b.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
		for _, offset := range chunk {
			if err := b.Add(batch.ID{}, nowMs, batch.TombstoneKey, batch.AppendTombstoneValue(value[:0], offset), nil); err != nil {
				return err
			}
		}
		data, err := b.Finish()
		if err != nil {
			return err
		}
		if _, err := l.stampAndWriteLocked(data, epoch); err != nil {
			return err
		}
	}
	return nil
}

// offsetOfIDLocked returns the offset of the data record with exactly id, at or above the log
// start.
func (l *Log) offsetOfIDLocked(id batch.ID) (uint64, bool, error) {
	rec, found, err := l.findFirstLocked(searchID(id))
	if err != nil || !found || rec.ID != id {
		return 0, false, err
	}
	return rec.Offset, true, nil
}

// Truncate removes every batch at or above offset end (a replica dropping a suffix that
// diverged from the new leader). end must be a batch boundary at or above the log start.
func (l *Log) Truncate(end uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	next := l.nextOffset()
	if end == next {
		return nil
	}
	if end < l.meta.LogStart || end > next {
		return fmt.Errorf("%w: truncate to %d, log holds %d..%d", ErrOutOfRange, end, l.meta.LogStart, next)
	}
	k := slices.Index(l.segments, l.segmentFor(end))
	seg := l.segments[k]
	pos, err := l.batchPosition(seg, end)
	if err != nil {
		return err
	}
	if err := l.cutSegmentsAfter(k, pos); err != nil {
		return l.failLocked(err)
	}
	if l.setID != nil && l.setID.At >= end {
		l.setID = nil // an uncommitted XSETID cut away: the one before it is in the meta file, if any
		if ms := l.meta.SetID; ms != nil && ms.At < end {
			l.setID = ms
		}
	}
	l.lastID = l.lastIDLocked()
	l.tombstones = l.tombstones.onlyBefore(end)
	if l.truncations == 0 || end < l.truncatedTo {
		l.truncatedTo = end
	}
	l.truncations++
	l.wakeWaitersLocked()
	l.syncedEnd = min(l.syncedEnd, end)
	m := l.meta
	m.Epochs = truncateEpochs(slices.Clone(m.Epochs), end)
	return l.saveMetaLocked(m)
}

// batchPosition returns the position in seg of the batch that starts at offset.
func (l *Log) batchPosition(seg *segment, offset uint64) (int64, error) {
	if offset == seg.baseOffset {
		return 0, nil
	}
	start := entryForOffset(seg.entries, offset)
	sc := newScanner(seg.file, seg.path, int64(start.position), seg.size, nil)
	for {
		h, _, at, err := sc.next()
		switch {
		case err != nil:
			return 0, corruptAt(seg.path, at, offset, err)
		case h.BaseOffset == offset:
			return at, nil
		case h.NextOffset() > offset:
			return 0, fmt.Errorf("%w: offset %d is inside the batch %d..%d", ErrNotBatchBoundary, offset, h.BaseOffset, h.LastOffset())
		}
	}
}

// cutSegmentsAfter makes segment k the active one, cut at pos, and deletes the ones after it.
func (l *Log) cutSegmentsAfter(k int, pos int64) error {
	seg := l.segments[k]
	removed := slices.Clone(l.segments[k+1:])
	l.segments = l.segments[:k+1]
	if err := l.removeSegmentFiles(removed); err != nil {
		return err
	}
	if err := seg.file.Truncate(pos); err != nil {
		return fmt.Errorf("truncate %s: %w", seg.path, err)
	}
	if err := seg.file.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", seg.path, err)
	}
	// The segment is active again: it has no index file, and its summary is rebuilt.
	if err := l.fs.Remove(seg.indexPath()); err != nil && !isNotExist(err) {
		return err
	}
	fresh := newSegment(l.cfg.Dir, seg.baseOffset, seg.file)
	fresh.createdAt = seg.createdAt
	state := scanState{lastID: l.diskIDBefore(seg)}
	if at, err := l.scanSegment(fresh, pos, &state, nil); err != nil {
		return corruptAt(seg.path, at, fresh.nextOffset(), err)
	}
	l.segments[k] = fresh
	return nil
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
