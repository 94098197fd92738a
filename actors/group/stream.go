package group

import "github.com/shoalmq/shoal/protocol/batch"

// Stream is what group commands need to know of the partition's stream. The shell implements it
// over the committed part of the log. Plan calls it synchronously and retains nothing; it must
// not block for long (it runs inside the partition actor) and must answer consistently within
// one Plan call.
type Stream interface {
	// Info returns the stream's metadata.
	Info() StreamInfo
	// After returns the ids of up to count live (not deleted) entries with id > after, in
	// ascending order. Plan always passes 1 <= count <= MaxCount; an implementation may treat
	// count <= 0 as MaxCount. The slice belongs to the caller.
	After(after batch.ID, count int) []batch.ID
	// Exists reports whether id is a live entry of the stream.
	Exists(id batch.ID) bool
}

// StreamInfo is the stream metadata Redis 7.0 keeps for lag and entries-read.
type StreamInfo struct {
	// LastID is the last id generated (XADD) or set (XSETID); 0-0 for a new stream.
	LastID batch.ID
	// EntriesAdded counts every entry ever added (Redis's entries_added).
	EntriesAdded int64
	// MaxDeletedID is the largest id deleted by XDEL (not by trimming); 0-0 when none.
	MaxDeletedID batch.ID
	// FirstID is the id of the first live entry; 0-0 when the stream is empty.
	FirstID batch.ID
	// Length is the number of live entries.
	Length int64
}

// hasTombstonesFrom is Redis's streamRangeHasTombstones(s, start, NULL): whether an XDEL hole
// may lie at or after start.
func (s StreamInfo) hasTombstonesFrom(start batch.ID) bool {
	if s.Length == 0 || s.MaxDeletedID.IsZero() {
		return false
	}
	if s.FirstID.Compare(s.MaxDeletedID) > 0 {
		return false // the latest tombstone is before the first entry
	}
	return start.Compare(s.MaxDeletedID) <= 0
}

// estimateEntriesRead is Redis's streamEstimateDistanceFromFirstEverEntry: the logical read
// counter of id, or EntriesReadUnknown.
func (s StreamInfo) estimateEntriesRead(id batch.ID) int64 {
	if s.EntriesAdded == 0 {
		return 0
	}
	cmpLast := id.Compare(s.LastID)
	if s.Length == 0 && cmpLast <= 0 {
		return s.EntriesAdded
	}
	if cmpLast == 0 {
		return s.EntriesAdded
	}
	if cmpLast > 0 {
		return EntriesReadUnknown
	}
	if s.MaxDeletedID.IsZero() || s.MaxDeletedID.Compare(s.FirstID) < 0 {
		switch id.Compare(s.FirstID) {
		case -1:
			return s.EntriesAdded - s.Length
		case 0:
			return s.EntriesAdded - s.Length + 1
		}
	}
	return EntriesReadUnknown
}

// lag is Redis's streamReplyWithCGLag: the entries not yet delivered to the group, and false
// when that is unknown (XINFO shows nil).
func (s StreamInfo) lag(lastDelivered batch.ID, entriesRead int64) (int64, bool) {
	if s.EntriesAdded == 0 {
		return 0, true
	}
	if entriesRead != EntriesReadUnknown && !s.hasTombstonesFrom(lastDelivered) {
		return s.EntriesAdded - entriesRead, true
	}
	if read := s.estimateEntriesRead(lastDelivered); read != EntriesReadUnknown {
		return s.EntriesAdded - read, true
	}
	return 0, false
}

// advanceEntriesRead is the entries-read update of Redis's streamReplyWithRange for one entry
// id delivered past the group's last-delivered id.
func (s StreamInfo) advanceEntriesRead(entriesRead int64, id batch.ID) int64 {
	if entriesRead != EntriesReadUnknown && !s.hasTombstonesFrom(id) {
		return entriesRead + 1
	}
	if s.EntriesAdded != 0 {
		return s.estimateEntriesRead(id)
	}
	return entriesRead
}
