package batch

import "encoding/binary"

// Control record types: the first byte of a control record's key. Append only: a number, once
// given a meaning, keeps it.
const (
	// ControlTombstone deletes one data record (XDEL); the value is the deleted record's offset,
	// 8 bytes little-endian.
	ControlTombstone byte = 1
	// ControlEpochStart is the first entry a new leader writes in its epoch; the value is the
	// leader's node id. Entries of older epochs commit when it does (Raft's rule).
	ControlEpochStart byte = 2
	// ControlConfig sets a partition's replica set (voters and learners); a replica uses the
	// newest one in its log, committed or not. The value is encoded by actors/replication.
	ControlConfig byte = 3
	// ControlGroup is one consumer-group change (create, deliver, ack, claim, ...); the value is
	// encoded by actors/group. Every replica applies it to its group state in log order.
	ControlGroup byte = 4
	// ControlTrim moves the log start (XTRIM, XADD's MAXLEN/MINID): the value is the new log
	// start, 8 bytes little-endian, computed by the leader. Replicas apply it once it commits, so
	// a trim that a failover truncates never removed anything.
	ControlTrim byte = 5
	// ControlSetID is XSETID: the value is SetIDValue's encoding. It raises the stream's last id
	// (the floor of later ids) and sets its entries-added and max-deleted-id figures.
	ControlSetID byte = 6
)

// SetIDValue is what an XSETID control record carries.
type SetIDValue struct {
	LastID ID
	// EntriesAdded is -1 when XSETID did not set it.
	EntriesAdded int64
	MaxDeletedID ID
}

// setIDValueSize is the encoded size of a SetIDValue.
const setIDValueSize = 40

// AppendSetIDValue appends v's encoding (little-endian: last id, entries added, max deleted id).
func AppendSetIDValue(dst []byte, v SetIDValue) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, v.LastID.Ms)
	dst = binary.LittleEndian.AppendUint64(dst, v.LastID.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(v.EntriesAdded))
	dst = binary.LittleEndian.AppendUint64(dst, v.MaxDeletedID.Ms)
	return binary.LittleEndian.AppendUint64(dst, v.MaxDeletedID.Seq)
}

// ParseSetIDValue decodes a control record's XSETID value; false when it is not one.
func ParseSetIDValue(r Record) (SetIDValue, bool) {
	if len(r.Key) != 1 || r.Key[0] != ControlSetID || len(r.Value) != setIDValueSize {
		return SetIDValue{}, false
	}
	le := binary.LittleEndian
	v := SetIDValue{LastID: ID{Ms: le.Uint64(r.Value), Seq: le.Uint64(r.Value[8:])}, EntriesAdded: int64(le.Uint64(r.Value[16:])),
		MaxDeletedID: ID{Ms: le.Uint64(r.Value[24:]), Seq: le.Uint64(r.Value[32:])}}
	return v, v.EntriesAdded >= -1
}

// TombstoneOffset returns the deleted offset of a control record, and false when the record is
// not a well-formed tombstone.
func TombstoneOffset(r Record) (uint64, bool) {
	if len(r.Key) != 1 || r.Key[0] != ControlTombstone || len(r.Value) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(r.Value), true
}

// TombstoneKey is the key of a tombstone control record.
var TombstoneKey = []byte{ControlTombstone}

// AppendTombstoneValue appends the value of a tombstone for offset to dst.
func AppendTombstoneValue(dst []byte, offset uint64) []byte {
	return binary.LittleEndian.AppendUint64(dst, offset)
}
