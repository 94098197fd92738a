package group

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Entry is one replicated change of one group: the value of a control record with key
// batch.ControlGroup. Its ops apply in order; op fields not listed for a code are zero.
type Entry struct {
	// Group names the group every op acts on.
	Group string
	// Consumer names the consumer that OpSeen, OpActive, OpDeleteConsumer and OpPending act on.
	Consumer string
	// NowMs is the leader's clock when the entry was planned: the seen, active and creation times
	// the ops store.
	NowMs int64
	Ops   []Op
}

// OpCode says what an Op does. Append only: a code, once given a meaning, keeps it.
type OpCode byte

const (
	// OpCreateGroup creates the group (first op only): ID, EntriesRead, MaxDeliveries.
	OpCreateGroup OpCode = 1
	// OpDestroyGroup drops the group (last op only).
	OpDestroyGroup OpCode = 2
	// OpSetLastDelivered sets the last-delivered id and entries-read: ID, EntriesRead.
	OpSetLastDelivered OpCode = 3
	// OpSetMaxDeliveries sets the dead-letter bound: MaxDeliveries.
	OpSetMaxDeliveries OpCode = 4
	// OpSeen sets the consumer's seen time to NowMs, creating the consumer if missing.
	OpSeen OpCode = 5
	// OpActive sets the consumer's active time to NowMs, creating the consumer if missing.
	OpActive OpCode = 6
	// OpDeleteConsumer drops the consumer and its pending entries.
	OpDeleteConsumer OpCode = 7
	// OpPending makes ID pending for the consumer (creating either if missing, moving the id
	// from another consumer): DeliveryMs, DeliveryCount.
	OpPending OpCode = 8
	// OpAck drops ID from the pending lists (no-op when not pending).
	OpAck OpCode = 9

	opCodeMax = OpAck
)

var opCodeNames = [...]string{"", "create-group", "destroy-group", "set-last-delivered", "set-max-deliveries", "seen", "active", "delete-consumer", "pending", "ack"}

func (c OpCode) String() string {
	if c >= 1 && c <= opCodeMax {
		return opCodeNames[c]
	}
	return fmt.Sprintf("op(%d)", byte(c))
}

// Op is one step of an Entry.
type Op struct {
	Code          OpCode
	ID            batch.ID
	EntriesRead   int64 // >= EntriesReadUnknown
	MaxDeliveries int64 // >= 0
	DeliveryMs    int64
	DeliveryCount int64 // >= 0
}

// validate checks the code and the ranges of its fields.
func (op Op) validate() error {
	switch op.Code {
	case OpCreateGroup, OpSetLastDelivered:
		if op.EntriesRead < EntriesReadUnknown {
			return fmt.Errorf("%s: entries read %d below -1", op.Code, op.EntriesRead)
		}
		if op.MaxDeliveries < 0 {
			return fmt.Errorf("%s: max deliveries %d below 0", op.Code, op.MaxDeliveries)
		}
	case OpSetMaxDeliveries:
		if op.MaxDeliveries < 0 {
			return fmt.Errorf("%s: max deliveries %d below 0", op.Code, op.MaxDeliveries)
		}
	case OpPending:
		if op.DeliveryCount < 0 {
			return fmt.Errorf("%s: delivery count %d below 0", op.Code, op.DeliveryCount)
		}
	case OpDestroyGroup, OpSeen, OpActive, OpDeleteConsumer, OpAck:
	default:
		return fmt.Errorf("unknown op code %d", byte(op.Code))
	}
	return nil
}

// entryVersion is the first byte of an encoded Entry. Append only.
const entryVersion = 1

// ErrCorruptEntry is returned (wrapped) by UnmarshalEntry for bytes that are not an Entry.
var ErrCorruptEntry = errors.New("group: corrupt entry")

// Marshal encodes the entry: a version byte, then varints and length-prefixed strings. The bytes
// are deterministic (the same entry always gives the same bytes) and belong to the caller.
func (e *Entry) Marshal() []byte {
	b := make([]byte, 0, 16+len(e.Group)+len(e.Consumer)+len(e.Ops)*12)
	b = append(b, entryVersion)
	b = appendString(b, e.Group)
	b = appendString(b, e.Consumer)
	b = binary.AppendVarint(b, e.NowMs)
	b = binary.AppendUvarint(b, uint64(len(e.Ops)))
	for _, op := range e.Ops {
		b = append(b, byte(op.Code))
		switch op.Code {
		case OpCreateGroup:
			b = appendID(b, op.ID)
			b = binary.AppendVarint(b, op.EntriesRead)
			b = binary.AppendVarint(b, op.MaxDeliveries)
		case OpSetLastDelivered:
			b = appendID(b, op.ID)
			b = binary.AppendVarint(b, op.EntriesRead)
		case OpSetMaxDeliveries:
			b = binary.AppendVarint(b, op.MaxDeliveries)
		case OpPending:
			b = appendID(b, op.ID)
			b = binary.AppendVarint(b, op.DeliveryMs)
			b = binary.AppendVarint(b, op.DeliveryCount)
		case OpAck:
			b = appendID(b, op.ID)
		}
	}
	return b
}

// UnmarshalEntry decodes an Entry encoded by Marshal. It is total: any input gives an entry or
// an error wrapping ErrCorruptEntry, never a panic, and allocates in proportion to len(b). The
// entry does not alias b.
func UnmarshalEntry(b []byte) (*Entry, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != entryVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorruptEntry, v, entryVersion)
	}
	e := &Entry{Group: d.name(), Consumer: d.name(), NowMs: d.varint()}
	n := d.count(1, maxOpsPerEntry) // an op takes at least 1 byte
	if d.err == nil && n > 0 {
		e.Ops = make([]Op, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		op := Op{Code: OpCode(d.byte())}
		switch op.Code {
		case OpCreateGroup:
			op.ID, op.EntriesRead, op.MaxDeliveries = d.id(), d.varint(), d.varint()
		case OpSetLastDelivered:
			op.ID, op.EntriesRead = d.id(), d.varint()
		case OpSetMaxDeliveries:
			op.MaxDeliveries = d.varint()
		case OpPending:
			op.ID, op.DeliveryMs, op.DeliveryCount = d.id(), d.varint(), d.varint()
		case OpAck:
			op.ID = d.id()
		}
		if d.err == nil {
			if err := op.validate(); err != nil {
				d.fail("op %d: %v", i, err)
			}
		}
		e.Ops = append(e.Ops, op)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, d.err)
	}
	return e, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendID(b []byte, id batch.ID) []byte {
	b = binary.AppendUvarint(b, id.Ms)
	return binary.AppendUvarint(b, id.Seq)
}

// decoder reads varints and strings from b; the first failure sticks in err and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		d.fail("bad, truncated or non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvarintLen is the length of the minimal encoding of v: the decoders accept only that one, so
// that every value has one encoding and decoded bytes re-encode to themselves.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != uvarintLen(uint64(v)<<1^uint64(v>>63)) {
		d.fail("bad, truncated or non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) id() batch.ID {
	return batch.ID{Ms: d.uvarint(), Seq: d.uvarint()}
}

// name reads a length-prefixed string of at most MaxNameBytes.
func (d *decoder) name() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > MaxNameBytes || n > uint64(len(d.b)) {
		d.fail("name of %d bytes (limit %d, %d left)", n, MaxNameBytes, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads an element count, refusing more than limit or more than the remaining bytes can
// hold at minBytes each (so a count never makes the decoder allocate beyond its input).
func (d *decoder) count(minBytes int, limit int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(limit) || n > uint64(len(d.b)/minBytes) {
		d.fail("count %d too large (limit %d, %d bytes left)", n, limit, len(d.b))
		return 0
	}
	return int(n)
}
