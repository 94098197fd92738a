package batch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one record of a batch. Key, Value and the header bytes alias the batch's bytes
// (zero-copy): they are valid while the batch's buffer is, and must not be modified.
type Record struct {
	Offset    uint64
	ID        ID
	Timestamp int64
	// Key is nil when the record has no key (length -1) and empty when it has an empty key.
	Key []byte
	// Value is nil when the record has no value (length -1).
	Value       []byte
	HeaderCount int
	headers     []byte
}

// Headers returns an iterator over the record's header field/value pairs.
func (r *Record) Headers() HeaderIter {
	return HeaderIter{rest: r.headers, left: r.HeaderCount}
}

// HeaderIter walks the header pairs of a record. The record's layout was checked when the record
// was read, so Next cannot fail.
type HeaderIter struct {
	rest  []byte
	left  int
	field []byte
	value []byte
}

// Next moves to the next pair and reports whether there is one.
func (h *HeaderIter) Next() bool {
	if h.left == 0 {
		return false
	}
	h.left--
	var ok bool
	h.field, h.rest, ok = readBytes(h.rest)
	if ok {
		h.value, h.rest, ok = readBytes(h.rest)
	}
	return ok
}

// Field returns the current pair's field (aliasing the batch).
func (h *HeaderIter) Field() []byte { return h.field }

// Value returns the current pair's value (aliasing the batch).
func (h *HeaderIter) Value() []byte { return h.value }

// Iter reads the records of one batch out of its bytes without copying or allocating.
//
//	it := batch.Iterate(b, h)
//	for it.Next() { r := it.Record(); ... }
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	h      Header
	rest   []byte
	count  uint32
	record Record
	err    error
}

// Iterate returns an iterator over the records of batch b whose header is h (from ReadHeader,
// Split or Check). It never panics, whatever the bytes: a bad record ends the iteration with
// ErrCorrupt in Err.
func Iterate(b []byte, h Header) Iter {
	if int64(len(b)) < int64(h.Length) || h.Length < HeaderSize {
		return Iter{err: fmt.Errorf("%w: iterate %d bytes of a %d-byte batch", ErrCorrupt, len(b), h.Length)}
	}
	return Iter{h: h, rest: b[HeaderSize:h.Length]}
}

// Next reads the next record and reports whether there is one.
func (it *Iter) Next() bool {
	if it.err != nil || it.count == it.h.RecordCount {
		if it.err == nil && len(it.rest) != 0 {
			it.err = fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(it.rest))
		}
		return false
	}
	bodyLen, n := binary.Uvarint(it.rest)
	if n <= 0 || bodyLen > uint64(len(it.rest)-n) {
		it.err = fmt.Errorf("%w: record %d length", ErrCorrupt, it.count)
		return false
	}
	body := it.rest[n : n+int(bodyLen)]
	it.rest = it.rest[n+int(bodyLen):]
	if err := it.decode(body); err != nil {
		it.err = fmt.Errorf("%w: record %d: %s", ErrCorrupt, it.count, err)
		return false
	}
	it.count++
	return true
}

// Record returns the current record. It is overwritten by the next call to Next.
func (it *Iter) Record() Record { return it.record }

// Err returns the error that ended the iteration, if any.
func (it *Iter) Err() error { return it.err }

// decodeError is a static reason, so the hot path does not allocate on success.
type decodeError string

func (e decodeError) Error() string { return string(e) }

func (it *Iter) decode(body []byte) error {
	if len(body) < 1 || body[0] != 0 {
		return decodeError("attributes")
	}
	body = body[1:]
	timestampDelta, body, ok := readVarint(body)
	offsetDelta, body, ok2 := readUvarint(body)
	msDelta, body, ok3 := readUvarint(body)
	seq, body, ok4 := readUvarint(body)
	if !ok || !ok2 || !ok3 || !ok4 {
		return decodeError("varint")
	}
	if offsetDelta != uint64(it.count) {
		return decodeError("offset delta is not the record's index")
	}
	r := &it.record
	r.Offset = it.h.BaseOffset + offsetDelta
	r.Timestamp = it.h.FirstTimestamp + timestampDelta
	var err error
	if r.ID, err = recordID(it.h.FirstID, msDelta, seq); err != nil {
		return err
	}
	if r.Key, body, ok = readNullableBytes(body); !ok {
		return decodeError("key")
	}
	if r.Value, body, ok = readNullableBytes(body); !ok {
		return decodeError("value")
	}
	return it.decodeHeaders(body)
}

func recordID(first ID, msDelta, seq uint64) (ID, error) {
	if msDelta > math.MaxUint64-first.Ms {
		return ID{}, decodeError("id ms overflows")
	}
	if msDelta != 0 {
		return ID{Ms: first.Ms + msDelta, Seq: seq}, nil
	}
	if seq > math.MaxUint64-first.Seq {
		return ID{}, decodeError("id seq overflows")
	}
	return ID{Ms: first.Ms, Seq: first.Seq + seq}, nil
}

func (it *Iter) decodeHeaders(body []byte) error {
	count, body, ok := readUvarint(body)
	// Every pair takes at least two bytes, which bounds the count before the loop.
	if !ok || count > uint64(len(body))/2 {
		return decodeError("header count")
	}
	r := &it.record
	r.HeaderCount = int(count)
	r.headers = body
	for i := uint64(0); i < count; i++ {
		if _, body, ok = readBytes(body); !ok {
			return decodeError("header field")
		}
		if _, body, ok = readBytes(body); !ok {
			return decodeError("header value")
		}
	}
	if len(body) != 0 {
		return decodeError("bytes after the headers")
	}
	return nil
}

func readUvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func readVarint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

func readBytes(b []byte) (field, rest []byte, ok bool) {
	n, rest, ok := readUvarint(b)
	if !ok || n > uint64(len(rest)) {
		return nil, b, false
	}
	return rest[:n:n], rest[n:], true
}

func readNullableBytes(b []byte) (field, rest []byte, ok bool) {
	n, rest, ok := readVarint(b)
	switch {
	case !ok || n < -1 || n > int64(len(rest)):
		return nil, b, false
	case n == -1:
		return nil, rest, true
	}
	return rest[:n:n], rest[n:], true
}

// HeadersSize returns the encoded size of the record's headers (for limits).
func (r *Record) HeadersSize() int { return len(r.headers) }
