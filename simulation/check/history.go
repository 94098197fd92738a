package check

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
)

// Acks is a producer's acknowledgement level.
type Acks uint8

// Acks levels, as protocol.Acks*: quorum answers once the record is committed, leader once the
// leader's own log holds it durably (per the fsync policy), none at once.
const (
	AcksQuorum Acks = iota
	AcksLeader
	AcksNone
)

func (a Acks) String() string {
	switch a {
	case AcksQuorum:
		return "quorum"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("Acks(%d)", uint8(a))
}

// Result is how an operation ended.
type Result uint8

// Results. Failed is a definite failure (nothing was written: no leader took it); Unknown is
// an indeterminate one (the leader appended it, then stepped down, crashed, truncated it, or the
// run ended first): the record may or may not survive.
const (
	Pending Result = iota
	OK
	Failed
	Unknown
)

func (r Result) String() string {
	switch r {
	case Pending:
		return "pending"
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// OpKind tells produces from polls and from consumer-group commands.
type OpKind uint8

// Operation kinds.
const (
	Produce OpKind = iota
	Poll
	// GroupRead is an XREADGROUP or XAUTOCLAIM of a group consumer; GroupAck its XACK.
	GroupRead
	GroupAck
)

func (k OpKind) String() string {
	switch k {
	case Produce:
		return "produce"
	case Poll:
		return "poll"
	case GroupRead:
		return "group-read"
	case GroupAck:
		return "group-ack"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one operation of the history: its invocation and completion ticks and its result.
// A produce writes Values (unique in the run) as one batch at Node, which assigned Offset (the
// batch's base) in Epoch; a poll read Count entries from Offset at Node.
type Op struct {
	ID        int
	Kind      OpKind
	Partition int
	Node      replication.NodeID
	Acks      Acks
	Values    []string
	Offset    replication.Offset
	Epoch     replication.Epoch
	Count     int
	Invoke    int64
	Complete  int64
	Result    Result
}

// History is every operation of a run, in invocation order (Op.ID is the index).
type History struct {
	Ops []Op
}

// Invoke records the start of an operation and returns its id.
func (h *History) Invoke(op Op) int {
	op.ID = len(h.Ops)
	op.Result = Pending
	h.Ops = append(h.Ops, op)
	return op.ID
}

// Complete records the end of an operation. An operation completes once; later calls are
// ignored (an ack never overrides an earlier failure, and the reverse).
func (h *History) Complete(id int, tick int64, r Result) {
	op := &h.Ops[id]
	if op.Result != Pending {
		return
	}
	op.Result, op.Complete = r, tick
}

// Entry is one entry of a log as the checker sees it: its offset, the epoch of its batch and
// what identifies it: a data record's value (unique in the run), or for a control entry its
// kind, epoch and value.
type Entry struct {
	Offset  replication.Offset
	Epoch   replication.Epoch
	Base    replication.Offset // the base offset of its batch
	ID      string
	Control bool
}

// Entries decodes a stored batch into entries; a batch that does not decode is a broken
// invariant of the simulator (it only stores batches that checked).
func Entries(b []byte) []Entry {
	h, err := batch.ReadHeader(b)
	if err != nil {
		panic(fmt.Sprintf("check: a stored batch does not read: %v", err))
	}
	out := make([]Entry, 0, h.RecordCount)
	base, e := replication.Offset(h.BaseOffset), replication.Epoch(h.LeaderEpoch)
	it := batch.Iterate(b, h)
	for it.Next() {
		r := it.Record()
		en := Entry{Offset: replication.Offset(r.Offset), Epoch: e, Base: base, Control: h.IsControl()}
		if en.Control {
			en.ID = fmt.Sprintf("control:%x@e%d:%s", r.Key, e, r.Value)
		} else {
			en.ID = string(r.Value)
		}
		out = append(out, en)
	}
	if err := it.Err(); err != nil {
		panic(fmt.Sprintf("check: a stored batch does not iterate: %v", err))
	}
	return out
}
