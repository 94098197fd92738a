package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Header field/value pair of a record, for building.
type HeaderPair struct {
	Field []byte
	Value []byte
}

// Options configure a batch under construction.
type Options struct {
	// Control builds a control batch (log-internal records; no ids).
	Control bool
	// AutoID builds a batch whose ids the leader assigns (XADD "*"); records added must have a
	// zero id.
	AutoID bool
	// ProducerID and BaseSequence identify an idempotent producer's batch; ProducerID is
	// NoProducer when absent.
	ProducerID   int64
	BaseSequence int32
}

// Builder encodes records into a batch. It reuses its buffer across batches: Reset, Add records,
// Finish, use the bytes, Reset again. A Builder is not safe for concurrent use.
type Builder struct {
	buf          []byte
	opts         Options
	count        uint32
	firstID      ID
	lastID       ID
	firstTime    int64
	maxTimestamp int64
}

// ErrBuild is returned by Builder.Add for a record that does not fit the batch being built.
var ErrBuild = errors.New("batch: cannot add record")

// NewBuilder returns a builder that starts with a buffer of capacity sizeHint bytes.
func NewBuilder(sizeHint int) *Builder {
	b := &Builder{buf: make([]byte, 0, max(sizeHint, HeaderSize))}
	b.Reset(Options{ProducerID: NoProducer})
	return b
}

// Reset starts a new batch with opts, keeping the buffer.
func (b *Builder) Reset(opts Options) {
	b.buf = append(b.buf[:0], make([]byte, HeaderSize)...)
	b.opts = opts
	b.count = 0
	b.firstID, b.lastID = ID{}, ID{}
	b.firstTime, b.maxTimestamp = 0, 0
}

// Len returns the number of records added since Reset.
func (b *Builder) Len() int { return int(b.count) }

// Size returns the bytes of the batch so far.
func (b *Builder) Size() int { return len(b.buf) }

// Add appends one record. For a data batch without AutoID, id must be above the previous record's
// id; control and AutoID batches take a zero id. key or value nil means "none" (encoded as -1).
func (b *Builder) Add(id ID, timestamp int64, key, value []byte, headers []HeaderPair) error {
	if err := b.checkID(id); err != nil {
		return err
	}
	if b.count == 0 {
		b.firstID, b.firstTime, b.maxTimestamp = id, timestamp, timestamp
	}
	if b.count == math.MaxUint32 {
		return fmt.Errorf("%w: too many records", ErrBuild)
	}
	recordStart := len(b.buf)
	body := b.encodeBody(id, timestamp, key, value, headers)
	// The body's length is known only once it is encoded: grow the buffer by the length varint's
	// size, shift the body up and write the varint in front of it.
	var lenBuf [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lenBuf[:], uint64(len(body)))
	b.buf = append(b.buf, lenBuf[:n]...)
	copy(b.buf[recordStart+n:], b.buf[recordStart:recordStart+len(body)])
	copy(b.buf[recordStart:], lenBuf[:n])
	b.lastID = id
	b.maxTimestamp = max(b.maxTimestamp, timestamp)
	b.count++
	return nil
}

func (b *Builder) checkID(id ID) error {
	switch {
	case b.opts.Control || b.opts.AutoID:
		if !id.IsZero() {
			return fmt.Errorf("%w: id %v in a control or auto-id batch", ErrBuild, id)
		}
	case id.IsZero():
		return fmt.Errorf("%w: %w", ErrBuild, ErrIDZero)
	case b.count > 0 && !b.lastID.Less(id):
		return fmt.Errorf("%w: id %v not above %v", ErrBuild, id, b.lastID)
	}
	return nil
}

// encodeBody appends the record body (everything after the length varint) to b.buf and returns
// it as a slice of b.buf.
func (b *Builder) encodeBody(id ID, timestamp int64, key, value []byte, headers []HeaderPair) []byte {
	start := len(b.buf)
	buf := append(b.buf, 0) // attributes
	buf = binary.AppendVarint(buf, timestamp-b.firstTime)
	buf = binary.AppendUvarint(buf, uint64(b.count))
	msDelta, seq := b.relativeID(id)
	buf = binary.AppendUvarint(buf, msDelta)
	buf = binary.AppendUvarint(buf, seq)
	buf = appendNullable(buf, key)
	buf = appendNullable(buf, value)
	buf = binary.AppendUvarint(buf, uint64(len(headers)))
	for _, h := range headers {
		buf = binary.AppendUvarint(buf, uint64(len(h.Field)))
		buf = append(buf, h.Field...)
		buf = binary.AppendUvarint(buf, uint64(len(h.Value)))
		buf = append(buf, h.Value...)
	}
	b.buf = buf
	return buf[start:]
}

func (b *Builder) relativeID(id ID) (msDelta, seq uint64) {
	if b.opts.AutoID {
		return 0, uint64(b.count)
	}
	if id.Ms == b.firstID.Ms {
		return 0, id.Seq - b.firstID.Seq
	}
	return id.Ms - b.firstID.Ms, id.Seq
}

func appendNullable(buf, field []byte) []byte {
	if field == nil {
		return binary.AppendVarint(buf, -1)
	}
	buf = binary.AppendVarint(buf, int64(len(field)))
	return append(buf, field...)
}

// Finish writes the header and CRC and returns the batch bytes, which alias the builder's buffer
// until the next Reset. Base offset and epoch are zero until the leader stamps them.
func (b *Builder) Finish() ([]byte, error) {
	if b.count == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrBuild)
	}
	if len(b.buf) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrBuild, len(b.buf))
	}
	le := binary.LittleEndian
	h := b.buf[:HeaderSize]
	clear(h)
	le.PutUint32(h[posLength:], uint32(len(b.buf)))
	h[posMagic] = Magic
	le.PutUint16(h[posAttributes:], b.attributes())
	le.PutUint32(h[posRecordCount:], b.count)
	if !b.opts.Control && !b.opts.AutoID {
		putID(h[posFirstIDMs:], b.firstID)
		putID(h[posLastIDMs:], b.lastID)
	}
	le.PutUint64(h[posFirstTimestamp:], uint64(b.firstTime))
	le.PutUint64(h[posMaxTimestamp:], uint64(b.maxTimestamp))
	le.PutUint64(h[posProducerID:], uint64(b.opts.ProducerID))
	le.PutUint32(h[posBaseSequence:], uint32(b.opts.BaseSequence))
	le.PutUint32(h[posCRC:], crc32.Checksum(b.buf[crcStart:], castagnoli))
	return b.buf, nil
}

func (b *Builder) attributes() uint16 {
	var attrs uint16
	if b.opts.Control {
		attrs |= AttrControl
	}
	if b.opts.AutoID {
		attrs |= AttrAutoID
	}
	return attrs
}
