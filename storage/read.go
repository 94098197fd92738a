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
	data, err := l.readBatches(seg, int64(start.position), from, maxBytes, upTo, buf)
	if err != nil {
		return res, err
	}
	res.Data = data
	if len(data) > 0 {
		res.Next = lastBatchEnd(data)
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
// within the budget and upTo.
func (l *Log) readBatches(seg *segment, pos int64, from uint64, maxBytes int, upTo uint64, buf []byte) ([]byte, error) {
	want := int64(max(maxBytes, minReadChunk))
	for {
		window, err := readAt(seg, buf, pos, min(seg.size-pos, want))
		if err != nil {
			return nil, err
		}
		first, end, restart, err := walkWindow(window, from, maxBytes, upTo)
		if err != nil {
			return nil, corruptAt(seg.path, pos+restart, 0, err)
		}
		if first >= 0 {
			return window[first:end], nil
		}
		if restart < 0 || pos+restart >= seg.size {
			return nil, nil // nothing to read below upTo
		}
		// The window ended inside a batch before the wanted one was found: read again from that
		// batch, large enough to hold it.
		length, err := batch.PeekLength(window[restart:])
		if err != nil {
			length = batch.HeaderSize
		}
		if int64(length) > seg.size-pos-restart {
			return nil, corruptAt(seg.path, pos+restart, 0, fmt.Errorf("%w: batch length %d past the segment end", batch.ErrCorrupt, length))
		}
		pos += restart
		want = max(want, int64(length))
		buf = window[:0]
	}
}

// walkWindow finds, in a window that starts at a batch boundary, the batches to return: the
// window range [first, end), or first = -1 with restart = where to read on (the start of a batch
// cut off by the window, or the window's end; -1: nothing below upTo). A bad batch gives an
// error at restart.
func walkWindow(window []byte, from uint64, maxBytes int, upTo uint64) (first, end, restart int64, err error) {
	first = -1
	for at := int64(0); at < int64(len(window)); {
		b, _, h, err := batch.Split(window[at:])
		if errors.Is(err, batch.ErrShort) {
			if first >= 0 {
				return first, end, 0, nil // the budget ends inside this batch
			}
			return -1, 0, at, nil
		}
		if err != nil {
			return -1, 0, at, err
		}
		if h.NextOffset() > upTo {
			if first < 0 {
				return -1, 0, -1, nil
			}
			break
		}
		if first >= 0 && at+int64(len(b))-first > int64(maxBytes) {
			break
		}
		if h.NextOffset() > from && first < 0 {
			first = at
		}
		at += int64(len(b))
		end = at
	}
	if first < 0 {
		return -1, 0, int64(len(window)), nil // every batch here is below from: read on
	}
	return first, end, 0, nil
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

func lastBatchEnd(data []byte) uint64 {
	var next uint64
	for rest := data; len(rest) > 0; {
		h, _ := batch.ReadHeader(rest)
		next = h.NextOffset()
		rest = rest[h.Length:]
	}
	return next
}

// OffsetForID returns the offset of the first data record whose id is at or above id (XRANGE's
// start, XREAD's position), or LogEnd when there is none.
func (l *Log) OffsetForID(id batch.ID) (uint64, error) {
	return l.findFirst(func(e indexEntry) bool { return !e.lastIDBefore.Less(id) },
		func(h batch.Header) bool { return !h.LastID.Less(id) },
		func(r batch.Record) bool { return !r.ID.Less(id) })
}

// OffsetForTime returns the offset of the first data record whose timestamp is at or above ms,
// or LogEnd when there is none.
func (l *Log) OffsetForTime(ms int64) (uint64, error) {
	return l.findFirst(func(e indexEntry) bool { return e.maxTimestampBefore >= ms },
		func(h batch.Header) bool { return h.MaxTimestamp >= ms },
		func(r batch.Record) bool { return r.Timestamp >= ms })
}

// findFirst finds the first data record that satisfies inRecord. The predicates are monotonic
// over the log: pastEntry over index entries (summaries of everything before them), inBatch
// over batch headers, inRecord over records.
func (l *Log) findFirst(pastEntry func(indexEntry) bool, inBatch func(batch.Header) bool, inRecord func(batch.Record) bool) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.findFirstLocked(pastEntry, inBatch, inRecord)
}

func (l *Log) findFirstLocked(pastEntry func(indexEntry) bool, inBatch func(batch.Header) bool, inRecord func(batch.Record) bool) (uint64, error) {
	for _, seg := range l.segments {
		if seg.end.dataRecordsBefore == 0 || !pastEntry(seg.end) {
			continue // nothing in this segment matches
		}
		i := sort.Search(len(seg.entries), func(i int) bool { return pastEntry(seg.entries[i]) })
		start := seg.entries[max(i-1, 0)]
		offset, found, err := l.scanFor(seg, int64(start.position), inBatch, inRecord)
		if err != nil || found {
			return offset, err
		}
	}
	return l.nextOffset(), nil
}

func (l *Log) scanFor(seg *segment, pos int64, inBatch func(batch.Header) bool, inRecord func(batch.Record) bool) (uint64, bool, error) {
	sc := newScanner(seg.file, seg.path, pos, seg.size, nil)
	for {
		h, b, at, err := sc.next()
		if errors.Is(err, io.EOF) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, corruptAt(seg.path, at, h.BaseOffset, err)
		}
		if h.IsControl() || h.NextOffset() <= l.meta.LogStart || !inBatch(h) {
			continue
		}
		it := batch.Iterate(b, h)
		for it.Next() {
			// Records below the log start were trimmed: timestamps are not monotonic, so a match
			// there says nothing about the records after it.
			if r := it.Record(); r.Offset >= l.meta.LogStart && inRecord(r) {
				return r.Offset, true, nil
			}
		}
		if err := it.Err(); err != nil {
			return 0, false, corruptAt(seg.path, at, h.BaseOffset, err)
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
