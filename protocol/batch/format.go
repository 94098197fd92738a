package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Header field positions. The table is append-only in spirit: a new field takes a reserved byte
// range or a new Magic.
const (
	posLength         = 0
	posCRC            = 4
	posMagic          = 8
	posReserved1      = 9
	posAttributes     = 10
	posRecordCount    = 12
	posBaseOffset     = 16
	posLeaderEpoch    = 24
	posFirstIDMs      = 32
	posFirstIDSeq     = 40
	posLastIDMs       = 48
	posLastIDSeq      = 56
	posFirstTimestamp = 64
	posMaxTimestamp   = 72
	posProducerID     = 80
	posBaseSequence   = 88
	posReserved2      = 92

	// HeaderSize is the size of the batch header; records follow it.
	HeaderSize = 96
	// crcStart is where the bytes covered by the CRC begin.
	crcStart = 8
	// Magic is the format version this package writes and reads.
	Magic = 1
)

// Attributes of a batch.
const (
	// AttrControl marks a batch of log-internal records that consumers skip.
	AttrControl uint16 = 1 << 0
	// AttrAutoID marks a batch whose ids the leader assigns when it appends (XADD "*"). Such a
	// batch has zero FirstID/LastID and each record's id fields are (0, index). Stamp clears it:
	// a stored batch never has it.
	AttrAutoID uint16 = 1 << 1

	attrKnown = AttrControl | AttrAutoID
)

// NoProducer is the ProducerID of a batch from a producer without idempotence.
const NoProducer int64 = -1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrShort means the bytes end before the batch does: more bytes are needed (a torn write,
	// or a read that stopped early). Corrupt input never gives ErrShort.
	ErrShort = errors.New("batch: incomplete batch")
	// ErrCorrupt means the bytes are not a valid batch: bad length, magic, CRC or record layout.
	ErrCorrupt = errors.New("batch: corrupt batch")
)

// Header is the decoded fixed header of a batch.
type Header struct {
	Length         uint32
	CRC            uint32
	Attributes     uint16
	RecordCount    uint32
	BaseOffset     uint64
	LeaderEpoch    uint64
	FirstID        ID
	LastID         ID
	FirstTimestamp int64
	MaxTimestamp   int64
	ProducerID     int64
	BaseSequence   int32
}

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() uint64 { return h.BaseOffset + uint64(h.RecordCount) - 1 }

// NextOffset is the offset that follows the batch.
func (h Header) NextOffset() uint64 { return h.BaseOffset + uint64(h.RecordCount) }

// IsControl reports whether the batch holds control records.
func (h Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// PeekLength returns the total length of the batch that starts at b, from its first four bytes,
// or ErrShort when fewer than four bytes are given. It checks nothing else.
func PeekLength(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, ErrShort
	}
	return int(binary.LittleEndian.Uint32(b[posLength:])), nil
}

// ReadHeader decodes the header of the batch at the start of b without checking the CRC or the
// records. It fails with ErrShort when b is shorter than a header and ErrCorrupt when the length
// or magic is impossible.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	le := binary.LittleEndian
	h := Header{
		Length:         le.Uint32(b[posLength:]),
		CRC:            le.Uint32(b[posCRC:]),
		Attributes:     le.Uint16(b[posAttributes:]),
		RecordCount:    le.Uint32(b[posRecordCount:]),
		BaseOffset:     le.Uint64(b[posBaseOffset:]),
		LeaderEpoch:    le.Uint64(b[posLeaderEpoch:]),
		FirstID:        ID{Ms: le.Uint64(b[posFirstIDMs:]), Seq: le.Uint64(b[posFirstIDSeq:])},
		LastID:         ID{Ms: le.Uint64(b[posLastIDMs:]), Seq: le.Uint64(b[posLastIDSeq:])},
		FirstTimestamp: int64(le.Uint64(b[posFirstTimestamp:])),
		MaxTimestamp:   int64(le.Uint64(b[posMaxTimestamp:])),
		ProducerID:     int64(le.Uint64(b[posProducerID:])),
		BaseSequence:   int32(le.Uint32(b[posBaseSequence:])),
	}
	if err := checkHeaderFields(b, h); err != nil {
		return Header{}, err
	}
	return h, nil
}

func checkHeaderFields(b []byte, h Header) error {
	switch {
	case b[posMagic] != Magic:
		return fmt.Errorf("%w: magic %d, want %d", ErrCorrupt, b[posMagic], Magic)
	case h.Length < HeaderSize:
		return fmt.Errorf("%w: length %d below the header size %d", ErrCorrupt, h.Length, HeaderSize)
	case h.RecordCount == 0:
		return fmt.Errorf("%w: no records", ErrCorrupt)
	case uint64(h.RecordCount) > uint64(h.Length-HeaderSize):
		// Every record takes at least one byte: a count above the body size is corrupt.
		return fmt.Errorf("%w: %d records in %d bytes", ErrCorrupt, h.RecordCount, h.Length-HeaderSize)
	case h.BaseOffset > h.BaseOffset+uint64(h.RecordCount):
		return fmt.Errorf("%w: offsets overflow", ErrCorrupt)
	case h.Attributes&^attrKnown != 0:
		return fmt.Errorf("%w: unknown attributes %#x", ErrCorrupt, h.Attributes)
	case b[posReserved1] != 0 || binary.LittleEndian.Uint32(b[posReserved2:]) != 0:
		return fmt.Errorf("%w: reserved bytes set", ErrCorrupt)
	}
	return nil
}

// Split returns the first batch of b and the bytes after it, checking the header and the CRC
// but not the records (use Check for that). It fails with ErrShort when b ends inside the batch.
func Split(b []byte) (batch, rest []byte, h Header, err error) {
	h, err = ReadHeader(b)
	if err != nil {
		return nil, b, Header{}, err
	}
	if int64(h.Length) > int64(len(b)) {
		return nil, b, h, ErrShort
	}
	batch = b[:h.Length:h.Length]
	if got := crc32.Checksum(batch[crcStart:], castagnoli); got != h.CRC {
		return nil, b, h, fmt.Errorf("%w: crc %#08x, header says %#08x", ErrCorrupt, got, h.CRC)
	}
	return batch, b[h.Length:], h, nil
}

// Check validates a whole batch: header, CRC and every record (layout, dense offset deltas,
// strictly increasing ids from FirstID to LastID, MaxTimestamp). It returns the header.
// A batch that passes Check iterates without error.
func Check(b []byte) (Header, error) {
	return CheckLimits(b, Limits{})
}

// Limits bound the records of a batch; zero fields mean no bound.
type Limits struct {
	MaxKeyBytes    int
	MaxRecordBytes int // key, value and headers together
}

// ErrLimit means a record above a limit given to CheckLimits.
var ErrLimit = errors.New("batch: record over the limit")

// CheckLimits is Check that also enforces limits on every record, in the same pass.
func CheckLimits(b []byte, limits Limits) (Header, error) {
	batch, rest, h, err := Split(b)
	if err != nil {
		return h, err
	}
	if len(rest) != 0 {
		return h, fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, len(rest))
	}
	return h, checkRecords(batch, h, limits)
}

func checkLimits(i uint32, r *Record, limits Limits) error {
	if limits.MaxKeyBytes > 0 && len(r.Key) > limits.MaxKeyBytes {
		return fmt.Errorf("%w: record %d key of %d bytes, limit %d", ErrLimit, i, len(r.Key), limits.MaxKeyBytes)
	}
	if size := len(r.Key) + len(r.Value) + len(r.headers); limits.MaxRecordBytes > 0 && size > limits.MaxRecordBytes {
		return fmt.Errorf("%w: record %d of %d bytes, limit %d", ErrLimit, i, size, limits.MaxRecordBytes)
	}
	return nil
}

func checkRecords(b []byte, h Header, limits Limits) error {
	it := Iterate(b, h)
	var prev Record
	maxTimestamp := int64(0)
	for i := uint32(0); it.Next(); i++ {
		r := it.Record()
		if err := checkRecordID(h, i, r.ID, prev.ID); err != nil {
			return err
		}
		if err := checkLimits(i, &r, limits); err != nil {
			return err
		}
		if i == 0 || r.Timestamp > maxTimestamp {
			maxTimestamp = r.Timestamp
		}
		prev = r
	}
	if err := it.Err(); err != nil {
		return err
	}
	if it.count != h.RecordCount {
		return fmt.Errorf("%w: %d records, header says %d", ErrCorrupt, it.count, h.RecordCount)
	}
	if maxTimestamp != h.MaxTimestamp {
		return fmt.Errorf("%w: max timestamp %d, header says %d", ErrCorrupt, maxTimestamp, h.MaxTimestamp)
	}
	return checkIDRange(h, prev.ID)
}

// checkRecordID checks record i's id: control records have none (0-0), auto-id records are
// (0, i) so that Stamp can assign them, and data records rise strictly from FirstID.
func checkRecordID(h Header, i uint32, id, prev ID) error {
	want, exact := id, false
	switch {
	case h.Attributes&AttrControl != 0:
		want, exact = ID{}, true
	case h.Attributes&AttrAutoID != 0:
		want, exact = ID{Seq: uint64(i)}, true
	case i == 0:
		want, exact = h.FirstID, true
	}
	if exact && id != want {
		return fmt.Errorf("%w: record %d id %v, want %v", ErrCorrupt, i, id, want)
	}
	if !exact && !prev.Less(id) {
		return fmt.Errorf("%w: record %d id %v not above %v", ErrCorrupt, i, id, prev)
	}
	return nil
}

// checkIDRange checks the header's id range against the records: data batches have
// FirstID <= LastID equal to their first and last record ids (the first is checked by the
// iterator's encoding, which is relative to FirstID); control and auto-id batches have no ids.
func checkIDRange(h Header, lastRecordID ID) error {
	if h.Attributes&(AttrControl|AttrAutoID) != 0 {
		if !h.FirstID.IsZero() || !h.LastID.IsZero() {
			return fmt.Errorf("%w: control or auto-id batch with ids", ErrCorrupt)
		}
		return nil
	}
	if lastRecordID != h.LastID {
		return fmt.Errorf("%w: last record id %v, header says %v", ErrCorrupt, lastRecordID, h.LastID)
	}
	if h.FirstID.IsZero() {
		return fmt.Errorf("%w: data batch with id 0-0", ErrCorrupt)
	}
	return nil
}

// Stamp sets the fields the leader assigns when it appends: base offset and epoch, and for an
// AttrAutoID batch the ids, starting at firstID (the records' relative ids are (0, index), so
// record i gets firstID.Ms-(firstID.Seq+i)). It clears AttrAutoID and rewrites the CRC. The batch
// must have passed Check; firstID is ignored for other batches.
func Stamp(b []byte, baseOffset, epoch uint64, firstID ID) {
	le := binary.LittleEndian
	le.PutUint64(b[posBaseOffset:], baseOffset)
	le.PutUint64(b[posLeaderEpoch:], epoch)
	attrs := le.Uint16(b[posAttributes:])
	if attrs&AttrAutoID != 0 && attrs&AttrControl == 0 {
		count := le.Uint32(b[posRecordCount:])
		putID(b[posFirstIDMs:], firstID)
		putID(b[posLastIDMs:], ID{Ms: firstID.Ms, Seq: firstID.Seq + uint64(count) - 1})
	}
	le.PutUint16(b[posAttributes:], attrs&^AttrAutoID)
	le.PutUint32(b[posCRC:], crc32.Checksum(b[crcStart:], castagnoli))
}

func putID(b []byte, id ID) {
	binary.LittleEndian.PutUint64(b, id.Ms)
	binary.LittleEndian.PutUint64(b[8:], id.Seq)
}
