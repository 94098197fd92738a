package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"

	"github.com/shoalmq/shoal/protocol/batch"
)

// indexEntry points at a batch boundary of a segment and summarises what lies before it, so that
// one sorted slice answers lookups by offset, by id and by time.
//
// Invariant: within a segment, offset, position, dataRecordsBefore, maxTimestampBefore and
// lastIDBefore never decrease from one entry to the next.
type indexEntry struct {
	offset             uint64   // base offset of the batch at position
	position           uint32   // byte position of that batch in the segment
	dataRecordsBefore  uint32   // data (non-control) records before position in this segment
	maxTimestampBefore int64    // largest data timestamp before position (math.MinInt64: none)
	lastIDBefore       batch.ID // largest data id before position (0-0: none)
}

// Index file layout: entries of indexEntrySize bytes, the last one describing the segment's end
// (position = segment size, offset = next offset), then a footer of magic and CRC32C over the
// entries. A file that is short, fails its CRC, is not monotonic or does not end at the
// segment's size is rebuilt from the segment.
const (
	indexEntrySize   = 40
	indexFooterSize  = 8
	indexFooterMagic = 0x53484958 // "SHIX"
)

var errBadIndex = errors.New("bad index")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendIndexEntry(dst []byte, e indexEntry) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, e.offset)
	dst = le.AppendUint32(dst, e.position)
	dst = le.AppendUint32(dst, e.dataRecordsBefore)
	dst = le.AppendUint64(dst, uint64(e.maxTimestampBefore))
	dst = le.AppendUint64(dst, e.lastIDBefore.Ms)
	return le.AppendUint64(dst, e.lastIDBefore.Seq)
}

func readIndexEntry(b []byte) indexEntry {
	le := binary.LittleEndian
	return indexEntry{
		offset:             le.Uint64(b[0:]),
		position:           le.Uint32(b[8:]),
		dataRecordsBefore:  le.Uint32(b[12:]),
		maxTimestampBefore: int64(le.Uint64(b[16:])),
		lastIDBefore:       batch.ID{Ms: le.Uint64(b[24:]), Seq: le.Uint64(b[32:])},
	}
}

// encodeIndex returns the index file bytes for a sealed segment: its entries then the end entry.
func encodeIndex(entries []indexEntry, end indexEntry) []byte {
	buf := make([]byte, 0, (len(entries)+1)*indexEntrySize+indexFooterSize)
	for _, e := range entries {
		buf = appendIndexEntry(buf, e)
	}
	buf = appendIndexEntry(buf, end)
	crc := crc32.Checksum(buf, castagnoli)
	buf = binary.LittleEndian.AppendUint32(buf, indexFooterMagic)
	return binary.LittleEndian.AppendUint32(buf, crc)
}

// decodeIndex parses an index file of the segment starting at baseOffset whose file holds
// segmentBytes bytes. It returns the entries and the end entry, or errBadIndex.
func decodeIndex(b []byte, baseOffset uint64, segmentBytes int64) (entries []indexEntry, end indexEntry, err error) {
	body := len(b) - indexFooterSize
	// At least the segment's start entry and its end entry.
	if body < 2*indexEntrySize || body%indexEntrySize != 0 {
		return nil, indexEntry{}, fmt.Errorf("%w: %d bytes", errBadIndex, len(b))
	}
	footer := b[body:]
	if binary.LittleEndian.Uint32(footer) != indexFooterMagic ||
		binary.LittleEndian.Uint32(footer[4:]) != crc32.Checksum(b[:body], castagnoli) {
		return nil, indexEntry{}, fmt.Errorf("%w: footer or crc", errBadIndex)
	}
	all := make([]indexEntry, body/indexEntrySize)
	for i := range all {
		all[i] = readIndexEntry(b[i*indexEntrySize:])
	}
	if err := checkIndexEntries(all, baseOffset, segmentBytes); err != nil {
		return nil, indexEntry{}, err
	}
	return all[:len(all)-1], all[len(all)-1], nil
}

func checkIndexEntries(all []indexEntry, baseOffset uint64, segmentBytes int64) error {
	first, last := all[0], all[len(all)-1]
	if first.offset < baseOffset || int64(last.position) != segmentBytes {
		return fmt.Errorf("%w: range %d@%d..%d@%d, segment %d@0..%d bytes", errBadIndex,
			first.offset, first.position, last.offset, last.position, baseOffset, segmentBytes)
	}
	for i := 1; i < len(all); i++ {
		p, e := all[i-1], all[i]
		if e.offset < p.offset || e.position < p.position || e.dataRecordsBefore < p.dataRecordsBefore ||
			e.maxTimestampBefore < p.maxTimestampBefore || e.lastIDBefore.Less(p.lastIDBefore) {
			return fmt.Errorf("%w: entry %d goes backwards", errBadIndex, i)
		}
	}
	return nil
}

// startEntry is the implicit entry at position 0 of a segment.
func startEntry(baseOffset uint64) indexEntry {
	return indexEntry{offset: baseOffset, maxTimestampBefore: math.MinInt64}
}

// The lookups below return the entry to start a forward scan from: the last entry that cannot be
// past the target. entries must start with the segment's startEntry.

// entryForOffset: the last entry whose batch starts at or before offset.
func entryForOffset(entries []indexEntry, offset uint64) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].offset > offset })
	return entries[max(i-1, 0)]
}

// entryForID: the last entry before which every data id is below id.
func entryForID(entries []indexEntry, id batch.ID) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return !entries[i].lastIDBefore.Less(id) })
	return entries[max(i-1, 0)]
}

// entryForTime: the last entry before which every data timestamp is below ms.
func entryForTime(entries []indexEntry, ms int64) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].maxTimestampBefore >= ms })
	return entries[max(i-1, 0)]
}
