package storage

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

const (
	segmentSuffix = ".log"
	indexSuffix   = ".index"
	// offsetDigits makes file names sort in offset order.
	offsetDigits = 20
)

func segmentName(baseOffset uint64) string {
	return fmt.Sprintf("%0*d%s", offsetDigits, baseOffset, segmentSuffix)
}

// parseSegmentName returns the base offset of a segment file name, or false for other files.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != offsetDigits {
		return 0, false
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}

// segment is one file of the log and the in-memory summary of its batches.
//
// Invariant: end.position == size and end.offset == the next offset after the last batch;
// entries[0] is startEntry(baseOffset) and entries are sorted.
type segment struct {
	baseOffset uint64
	path       string
	file       vfs.File
	// size is the byte length of the whole batches in the file; a read never goes past it.
	size    int64
	entries []indexEntry
	// end summarises the whole segment as an entry at its end: next offset, data records, max
	// timestamp and last id of everything in it.
	end            indexEntry
	lastIndexedPos int64
	// createdAt is when the segment got its first batch (for rolling by age); zero when empty.
	createdAt time.Time
}

func newSegment(dir string, baseOffset uint64, file vfs.File) *segment {
	start := startEntry(baseOffset)
	return &segment{
		baseOffset: baseOffset,
		path:       filepath.Join(dir, segmentName(baseOffset)),
		file:       file,
		entries:    []indexEntry{start},
		end:        start,
	}
}

// indexName is the file name of the index of the segment starting at baseOffset.
func indexName(baseOffset uint64) string {
	return fmt.Sprintf("%0*d%s", offsetDigits, baseOffset, indexSuffix)
}

func (s *segment) indexPath() string {
	return filepath.Join(filepath.Dir(s.path), indexName(s.baseOffset))
}

func (s *segment) nextOffset() uint64 { return s.end.offset }

// writeIndex writes the index file of a sealed segment.
func (l *Log) writeIndex(seg *segment) error {
	return vfs.WriteFileAtomic(l.fs, l.cfg.Dir, indexName(seg.baseOffset), encodeIndex(seg.entries, seg.end))
}

func (s *segment) empty() bool { return s.size == 0 }

// add accounts for batch h written at position, adding a sparse index entry when the last one is
// at least intervalBytes behind.
func (s *segment) add(h batch.Header, position int64, intervalBytes int) {
	if position-s.lastIndexedPos >= int64(intervalBytes) {
		e := s.end
		e.offset, e.position = h.BaseOffset, uint32(position)
		s.entries = append(s.entries, e)
		s.lastIndexedPos = position
	}
	s.end.offset = h.NextOffset()
	s.end.position = uint32(position + int64(h.Length))
	if !h.IsControl() {
		s.end.dataRecordsBefore += h.RecordCount
		s.end.maxTimestampBefore = max(s.end.maxTimestampBefore, h.MaxTimestamp)
		s.end.lastIDBefore = h.LastID
	}
	s.size = position + int64(h.Length)
}

// scanner reads the batches of a segment file in order, through a reusable window.
type scanner struct {
	file    vfs.File
	path    string
	pos     int64 // file position of window[0]
	fileEnd int64
	window  []byte
	buf     []byte
	// chunk is how much a read asks for at least: scanChunkBytes for scans through a segment,
	// less for lookups that stop within an index interval.
	chunk int64
}

const scanChunkBytes = 1 << 20

// lookupChunkBytes is the read size of a lookup by id or time: it starts at the sparse index
// entry before the record and usually ends within the index interval (32 KiB by default), so a
// megabyte read (and allocation) per lookup was waste: XREADGROUP spent a third of its CPU there.
const lookupChunkBytes = 64 << 10

func newScanner(file vfs.File, path string, from, fileEnd int64, buf []byte) *scanner {
	return &scanner{file: file, path: path, pos: from, fileEnd: fileEnd, buf: buf[:0], chunk: scanChunkBytes}
}

// errTorn means the file ends inside a batch.
var errTorn = errors.New("file ends inside a batch")

// next returns the next batch (aliasing the scanner's buffer until the following call), its
// header and its position; io.EOF at a clean end; errTorn or a batch.ErrCorrupt otherwise.
func (sc *scanner) next() (h batch.Header, b []byte, position int64, err error) {
	for {
		b, rest, h, err := batch.Split(sc.window)
		if err == nil {
			position = sc.pos
			sc.pos += int64(len(b))
			sc.window = rest
			return h, b, position, nil
		}
		if !errors.Is(err, batch.ErrShort) {
			return h, nil, sc.pos, err
		}
		need := int64(batch.HeaderSize)
		if h.Length != 0 {
			need = int64(h.Length)
		}
		// A length past the end of the file is a torn or corrupt batch; fill finds that out by
		// reading what is there, so a bogus length never allocates more than the file holds.
		if err := sc.fill(need); err != nil {
			return h, nil, sc.pos, err
		}
	}
}

// fill reads more of the file so that the window holds at least need bytes.
func (sc *scanner) fill(need int64) error {
	have := int64(len(sc.window))
	left := sc.fileEnd - sc.pos - have
	if left <= 0 {
		if have == 0 {
			return io.EOF
		}
		return errTorn
	}
	want := min(max(need-have, sc.chunk), left)
	if int64(cap(sc.buf)) < have+want {
		sc.buf = make([]byte, 0, have+want)
	}
	sc.buf = append(sc.buf[:0], sc.window...)
	n, err := sc.file.ReadAt(sc.buf[have:have+want], sc.pos+have)
	if int64(n) < want && err == nil {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s at %d: %w", sc.path, sc.pos+have, err)
	}
	sc.window = sc.buf[:have+int64(n)]
	if int64(n) < want {
		sc.fileEnd = sc.pos + int64(len(sc.window))
	}
	return nil
}
