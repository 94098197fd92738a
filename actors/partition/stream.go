package partition

import (
	"fmt"
	"slices"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// StreamInfo returns the partition's figures as a Redis stream (XLEN, XINFO STREAM) from the
// leader. It reads the log directly and does not wait.
func (p *Partition) StreamInfo() (protocol.StreamInfoResponse, error) {
	if err := p.unavailable(); err != nil {
		return protocol.StreamInfoResponse{}, err
	}
	if !p.leadership.Load().IsLeader {
		return protocol.StreamInfoResponse{}, p.notLeader()
	}
	f, err := p.streamFigures()
	return protocol.StreamInfoResponse{Length: f.Len, LastID: f.LastID, FirstID: f.firstID, LogStart: p.log.LogStart(),
		HighWatermark: p.HighWatermark(), EntriesAdded: f.Added, MaxDeletedID: f.maxDeletedID,
		Groups: int(p.groupCount.Load())}, err
}

// streamFigures are the log's stream figures with the two ids they name by offset resolved.
type streamFigures struct {
	storage.StreamStats
	firstID, maxDeletedID batch.ID
}

// streamFigures reads what XINFO STREAM and the group commands need of the log (one read for the
// first live record, one for the highest deleted one).
func (p *Partition) streamFigures() (streamFigures, error) {
	f := streamFigures{StreamStats: p.log.StreamStats()}
	first, ok, err := p.firstLive()
	if err != nil {
		return f, err
	}
	if ok {
		f.firstID = first.ID
	}
	if f.HasDeleted {
		if r, ok, err := p.recordAt(f.MaxDeletedOffset); err == nil && ok {
			f.maxDeletedID = r.ID
		}
	}
	if f.maxDeletedID.Less(f.SetMaxDeletedID) {
		f.maxDeletedID = f.SetMaxDeletedID
	}
	return f, nil
}

// firstLive returns the first live data record of the log (committed or not).
func (p *Partition) firstLive() (batch.Record, bool, error) {
	for from := p.log.LogStart(); from < p.log.LogEnd(); {
		res, err := p.log.Read(from, 64<<10, p.log.LogEnd(), nil)
		if err != nil {
			return batch.Record{}, false, fmt.Errorf("partition %s: %w", p.name, err)
		}
		rs := res.Records()
		if rs.Next() {
			return rs.Record(), true, nil
		}
		if err := rs.Err(); err != nil || res.Next <= from {
			return batch.Record{}, false, err
		}
		from = res.Next
	}
	return batch.Record{}, false, nil
}

// recordAt returns the data record at offset, deleted or not.
func (p *Partition) recordAt(offset uint64) (batch.Record, bool, error) {
	res, err := p.log.Read(offset, 1, p.log.LogEnd(), nil)
	if err != nil {
		return batch.Record{}, false, err
	}
	for data := res.Data; len(data) > 0; {
		h, err := batch.ReadHeader(data)
		if err != nil || int64(h.Length) > int64(len(data)) {
			return batch.Record{}, false, err
		}
		b := data[:h.Length]
		data = data[h.Length:]
		if h.IsControl() || offset < h.BaseOffset || offset >= h.NextOffset() {
			continue
		}
		it := batch.Iterate(b, h)
		for it.Next() {
			if r := it.Record(); r.Offset == offset {
				return r, true, nil
			}
		}
		return batch.Record{}, false, it.Err()
	}
	return batch.Record{}, false, nil
}

// LastID returns the last id of the log (the floor of XADD's ids).
func (p *Partition) LastID() batch.ID { return p.log.LastID() }

// RecordByID returns the committed live record with id (its bytes are the caller's).
func (p *Partition) RecordByID(id batch.ID) (batch.Record, bool, error) {
	offset, err := p.log.OffsetForID(id)
	if err != nil {
		return batch.Record{}, false, err
	}
	hw := p.HighWatermark()
	if offset >= hw {
		return batch.Record{}, false, nil
	}
	res, err := p.log.Read(offset, 1, hw, nil)
	if err != nil {
		return batch.Record{}, false, err
	}
	rs := res.Records()
	if !rs.Next() || rs.Record().ID != id {
		return batch.Record{}, false, rs.Err()
	}
	return rs.Record(), true, nil
}

// RecordsByIDs finds the committed live records with the given ids (in any order) and calls fn
// with each id's index in ids and its record, or ok false when it is not there. Ids that lie close
// together in the log (a read group's new entries) are found in one read. The records alias
// buffers of this call: fn copies what it keeps.
func (p *Partition) RecordsByIDs(ids []batch.ID, fn func(i int, r batch.Record, ok bool)) error {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return ids[a].Compare(ids[b]) })
	if len(ids) == 0 {
		return nil
	}
	last := ids[order[len(order)-1]]
	hw := p.HighWatermark()
	var window []batch.Record // sorted by id
	var covered batch.ID      // every committed id up to this one is in window, if window is set
	have := false
	for _, i := range order {
		id := ids[i]
		if !have || covered.Less(id) {
			offset, err := p.log.OffsetForID(id)
			if err != nil {
				return err
			}
			window, have = window[:0], false
			if offset < hw {
				res, err := p.log.Read(offset, 64<<10, hw, nil)
				if err != nil {
					return err
				}
				rs := res.Records()
				for rs.Next() && !last.Less(rs.Record().ID) {
					window = append(window, rs.Record())
				}
				if err := rs.Err(); err != nil {
					return err
				}
				// The window covers the ids up to the last record it read (deleted ones in
				// between are not records): an id past it needs another read.
				if n := len(window); n > 0 {
					covered, have = window[n-1].ID, true
				}
			}
		}
		k, found := slices.BinarySearchFunc(window, id, func(r batch.Record, id batch.ID) int { return r.ID.Compare(id) })
		if found {
			fn(i, window[k], true)
		} else {
			fn(i, batch.Record{}, false)
		}
	}
	return nil
}
