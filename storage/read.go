package storage

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/shoalmq/shoal/protocol/batch"
)

// ReadResult is what Read returns: whole batches as stored, ready to send.
type ReadResult struct {
	// Data holds whole batches back to back; the first one contains From (it may start before
	// it: readers skip records below From). It aliases the buffer given to Read.
	Data []byte
	// From is the offset the read asked for; Next is the offset after the last batch in Data
	// (From when Data is empty), where the next read continues.
	From uint64
	Next uint64
	// Deleted lists the tombstoned offsets in [From, Next), sorted: readers skip them.
	Deleted []uint64
}

// minReadChunk bounds the reads of a small byte budget so that one read usually finds the
// start of the wanted batch after the index entry.
const minReadChunk = 64 << 10

// Read returns whole batches starting with the one that contains offset from, up to maxBytes
// (at least one batch, even a larger one, so a reader always progresses), never past a batch
// that ends after upTo (the commit point; pass LogEnd for everything), and within one segment.
// The bytes are read into buf when it is large enough (reuse it across reads).
// Reading at the end (from == min(upTo, LogEnd)) returns no data; below LogStart or past LogEnd
// is ErrOutOfRange. A batch that fails its CRC is ErrCorrupt naming the file and position.
func (l *Log) Read(from uint64, maxBytes int, upTo uint64, buf []byte) (ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ReadResult{}, ErrClosed
	}
	res := ReadResult{From: from, Next: from}
	if from < l.meta.LogStart || from > l.nextOffset() {
		return res, fmt.Errorf("%w: offset %d, log holds %d..%d", ErrOutOfRange, from, l.meta.LogStart, l.nextOffset())
	}
	if from >= min(upTo, l.nextOffset()) {
		return res, nil
	}
	seg := l.segmentFor(from)
	start := entryForOffset(seg.entries, from)
	data, next, err := l.readBatches(seg, int64(start.position), from, maxBytes, upTo, buf)
	if err != nil {
		return res, err
	}
	if len(data) > 0 {
		res.Data, res.Next = data, next
	}
	res.Deleted = l.tombstones.committedIn(from, res.Next, upTo)
	return res, nil
}

// segmentFor returns the segment holding offset (the last one whose base is at or below it).
func (l *Log) segmentFor(offset uint64) *segment {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset })
	return l.segments[max(i-1, 0)]
}

// readBatches reads seg from position pos and returns the batches from the one containing from,
// within the budget and upTo, and the offset after them.
func (l *Log) readBatches(seg *segment, pos int64, from uint64, maxBytes int, upTo uint64, buf []byte) ([]byte, uint64, error) {
	want := int64(max(maxBytes, minReadChunk))
	for {
		window, err := readAt(seg, buf, pos, min(seg.size-pos, want))
		if err != nil {
			return nil, 0, err
		}
		found, restart, err := walkWindow(window, from, maxBytes, upTo)
		if err != nil {
			return nil, 0, corruptAt(seg.path, pos+restart, 0, err)
		}
		if found.first >= 0 {
			return window[found.first:found.end], found.next, nil
		}
		if restart < 0 || pos+restart >= seg.size {
			return nil, 0, nil // nothing to read below upTo
		}
		// The window ended inside a batch before the wanted one was found: read again from that
		// batch, large enough to hold it.
		length, err := batch.PeekLength(window[restart:])
		if err != nil {
			length = batch.HeaderSize
		}
		if int64(length) > seg.size-pos-restart {
			return nil, 0, corruptAt(seg.path, pos+restart, 0, fmt.Errorf("%w: batch length %d past the segment end", batch.ErrCorrupt, length))
		}
		pos += restart
		want = max(want, int64(length))
		buf = window[:0]
	}
}

// span is the batches a read returns: window bytes [first, end), and the offset after them.
type span struct {
	first, end int64
	next       uint64
}

// walkWindow finds, in a window that starts at a batch boundary, the batches to return, or
// first = -1 with restart = where to read on (the start of a batch cut off by the window, or the
// window's end; -1: nothing below upTo). A bad batch gives an error at restart.
func walkWindow(window []byte, from uint64, maxBytes int, upTo uint64) (found span, restart int64, err error) {
	found.first = -1
	for at := int64(0); at < int64(len(window)); {
		b, _, h, err := batch.Split(window[at:])
		if errors.Is(err, batch.ErrShort) {
			if found.first >= 0 {
				return found, 0, nil // the budget ends inside this batch
			}
			return found, at, nil
		}
		if err != nil {
			return found, at, err
		}
		if h.NextOffset() > upTo {
			if found.first < 0 {
				return found, -1, nil
			}
			break
		}
		if found.first >= 0 && at+int64(len(b))-found.first > int64(maxBytes) {
			break
		}
		if h.NextOffset() > from && found.first < 0 {
			found.first = at
		}
		at += int64(len(b))
		found.end, found.next = at, h.NextOffset()
	}
	if found.first < 0 {
		return found, int64(len(window)), nil // every batch here is below from: read on
	}
	return found, 0, nil
}

// readAt reads n bytes of seg at pos into buf (grown if needed).
func readAt(seg *segment, buf []byte, pos, n int64) ([]byte, error) {
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	got, err := seg.file.ReadAt(buf, pos)
	if int64(got) == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("storage: read %s at %d: %w", seg.path, pos, err)
}

// OffsetForID returns the offset of the first data record whose id is at or above id (XRANGE's
// start, XREAD's position), or LogEnd when there is none.
func (l *Log) OffsetForID(id batch.ID) (uint64, error) { return l.offsetOfFirst(searchID(id)) }

// OffsetForTime returns the offset of the first data record whose timestamp is at or above ms,
// or LogEnd when there is none.
func (l *Log) OffsetForTime(ms int64) (uint64, error) { return l.offsetOfFirst(searchTime(ms)) }

// recordSearch looks for the first data record with a property that is monotonic over the log:
// pastEntry over index entries (summaries of everything before them), inBatch over batch
// headers, inRecord over records.
type recordSearch struct {
	pastEntry func(indexEntry) bool
	inBatch   func(batch.Header) bool
	inRecord  func(batch.Record) bool
}

// searchID finds the first record whose id is at or above id.
func searchID(id batch.ID) recordSearch {
	return recordSearch{
		pastEntry: func(e indexEntry) bool { return !e.lastIDBefore.Less(id) },
		inBatch:   func(h batch.Header) bool { return !h.LastID.Less(id) },
		inRecord:  func(r batch.Record) bool { return !r.ID.Less(id) },
	}
}

// searchTime finds the first record whose timestamp is at or above ms.
func searchTime(ms int64) recordSearch {
	return recordSearch{
		pastEntry: func(e indexEntry) bool { return e.maxTimestampBefore >= ms },
		inBatch:   func(h batch.Header) bool { return h.MaxTimestamp >= ms },
		inRecord:  func(r batch.Record) bool { return r.Timestamp >= ms },
	}
}

// offsetOfFirst returns the offset of the record search finds, or LogEnd.
func (l *Log) offsetOfFirst(search recordSearch) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.offsetOfFirstLocked(search)
}

func (l *Log) offsetOfFirstLocked(search recordSearch) (uint64, error) {
	rec, found, err := l.findFirstLocked(search)
	if err != nil || !found {
		return l.nextOffset(), err
	}
	return rec.Offset, nil
}

// findFirstLocked returns the first data record at or above the log start that search finds.
// Only the record's Offset and ID may be used: its slices alias a scan buffer.
func (l *Log) findFirstLocked(search recordSearch) (batch.Record, bool, error) {
	for _, seg := range l.segments {
		if seg.end.dataRecordsBefore == 0 || !search.pastEntry(seg.end) {
			continue // nothing in this segment matches
		}
		i := sort.Search(len(seg.entries), func(i int) bool { return search.pastEntry(seg.entries[i]) })
		start := seg.entries[max(i-1, 0)]
		rec, found, err := l.scanFor(seg, int64(start.position), search)
		if err != nil || found {
			return rec, found, err
		}
	}
	return batch.Record{}, false, nil
}

func (l *Log) scanFor(seg *segment, pos int64, search recordSearch) (batch.Record, bool, error) {
	sc := newScanner(seg.file, seg.path, pos, seg.size, nil)
	sc.chunk = lookupChunkBytes
	for {
		h, b, at, err := sc.next()
		if errors.Is(err, io.EOF) {
			return batch.Record{}, false, nil
		}
		if err != nil {
			return batch.Record{}, false, corruptAt(seg.path, at, h.BaseOffset, err)
		}
		if h.IsControl() || h.NextOffset() <= l.meta.LogStart || !search.inBatch(h) {
			continue
		}
		it := batch.Iterate(b, h)
		for it.Next() {
			// Records below the log start were trimmed: timestamps are not monotonic, so a match
			// there says nothing about the records after it.
			if r := it.Record(); r.Offset >= l.meta.LogStart && search.inRecord(r) {
				return r, true, nil
			}
		}
		if err := it.Err(); err != nil {
			return batch.Record{}, false, corruptAt(seg.path, at, h.BaseOffset, err)
		}
	}
}

// Len returns the number of data records in the log that are not deleted (Redis XLEN).
func (l *Log) Len() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.liveRecordsLocked()
}

// Records iterates the records that readers of a ReadResult see: data records at or above From
// that are not deleted; control batches are skipped. It does not allocate.
type Records struct {
	rest    []byte
	from    uint64
	deleted []uint64
	it      batch.Iter
	inBatch bool
	err     error
}

// Records returns an iterator over the result's visible records.
func (r ReadResult) Records() Records {
	return Records{rest: r.Data, from: r.From, deleted: r.Deleted}
}

// Next moves to the next visible record.
func (rs *Records) Next() bool {
	for rs.err == nil {
		if rs.inBatch && rs.it.Next() {
			rec := rs.it.Record()
			if rec.Offset < rs.from || rs.skipDeleted(rec.Offset) {
				continue
			}
			return true
		}
		if rs.inBatch {
			rs.err = rs.it.Err()
			rs.inBatch = false
		}
		if rs.err != nil || len(rs.rest) == 0 {
			return false
		}
		// Read checked every batch's CRC already: only the header is needed here.
		h, err := batch.ReadHeader(rs.rest)
		if err == nil && int64(h.Length) > int64(len(rs.rest)) {
			err = batch.ErrShort
		}
		if err != nil {
			rs.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
			return false
		}
		b := rs.rest[:h.Length]
		rs.rest = rs.rest[h.Length:]
		if !h.IsControl() {
			rs.it, rs.inBatch = batch.Iterate(b, h), true
		}
	}
	return false
}

// skipDeleted reports whether offset is deleted, consuming the sorted list as offsets rise.
func (rs *Records) skipDeleted(offset uint64) bool {
	for len(rs.deleted) > 0 && rs.deleted[0] < offset {
		rs.deleted = rs.deleted[1:]
	}
	return len(rs.deleted) > 0 && rs.deleted[0] == offset
}

// Record returns the current record (aliasing the result's bytes).
func (rs *Records) Record() batch.Record { return rs.it.Record() }

// Err returns the error that stopped the iteration, if any.
func (rs *Records) Err() error { return rs.err }
