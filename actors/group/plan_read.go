package group

import (
	"slices"

	"github.com/shoalmq/shoal/protocol/batch"
)

// planRead is XREADGROUP on one partition (Redis's xreadCommand and streamReplyWithRange).
//
// A ">" read delivers entries above the group's last-delivered id, records them pending for the
// consumer with delivery count 1 (unless NOACK; an id already pending, after a SETID backwards,
// moves to this consumer with count 1), and advances last-delivered and entries-read. As in
// Redis 7.0, a ">" read with nothing to deliver neither creates nor touches the consumer, and
// logs nothing. With Claim (Redis 8.4) idle pending entries are claimed first.
//
// A history read serves the consumer's own pending entries above After: each one still in the
// stream has its delivery count incremented and its delivery time set to now; a deleted one is
// returned with Exists false and left as it is. The consumer is created or touched even when
// nothing is returned (Redis 7.0).
func (s *State) planRead(c ReadGroup, st Stream, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupRead(c.Key, c.Group)
	}
	if c.Count > MaxCount {
		return Plan{}, limitError("COUNT %d exceeds the limit of %d entries per read", c.Count, MaxCount)
	}
	limit := int(c.Count)
	if limit <= 0 {
		limit = MaxCount
	}
	p := newPlanner(g, c.Consumer, nowMs)
	res := &ReadResult{}
	var err error
	if !c.New {
		err = p.readHistory(c.After, limit, st, res)
	} else {
		if c.Claim {
			err = p.claimIdle(c.ClaimMinIdleMs, limit, st, res)
		}
		if err == nil && len(res.Entries)+len(res.Deleted)+len(res.DeadLetters) < limit {
			err = p.readNew(limit-len(res.Entries)-len(res.Deleted)-len(res.DeadLetters), c.NoAck, st, res)
		}
	}
	if err != nil {
		return Plan{}, err
	}
	return Plan{Entry: p.finish(), Result: res}, nil
}

// readHistory serves the consumer's pending entries with id > after, up to limit.
func (p *planner) readHistory(after batch.ID, limit int, st Stream, res *ReadResult) error {
	if err := p.touch(); err != nil {
		return err
	}
	start, ok := nextID(after)
	cons := p.g.consumers[p.entry.Consumer]
	if !ok || cons == nil {
		return nil
	}
	cons.pending.ascend(start, func(id batch.ID, e *pendingEntry) bool {
		switch {
		case !st.Exists(id):
			res.Entries = append(res.Entries, Delivered{ID: id})
		case p.g.reachedMaxDeliveries(e.deliveryCount):
			v, _ := p.pending(id)
			res.DeadLetters = append(res.DeadLetters, p.deadLetter(id, v))
		default:
			// Already pending, so deliver cannot fail.
			_ = p.deliver(id, p.entry.NowMs, e.deliveryCount+1)
			res.Entries = append(res.Entries, Delivered{ID: id, Exists: true})
		}
		return len(res.Entries)+len(res.DeadLetters) < limit
	})
	return nil
}

// claimIdle is the CLAIM step of a ">" read (Redis 8.4): pending entries of any consumer idle for
// at least minIdleMs, longest idle first (ties in id order), are claimed by the reader, up to
// limit. Claimed entries count a delivery; NOACK does not apply to them. A pending entry
// deleted from the stream is dropped and listed in Deleted; it and dead letters take a slot of
// the limit, as in XAUTOCLAIM.
//
// NB(group): this scans the whole pending list (at most MaxPendingPerGroup entries) on every
// CLAIM read; Redis 8.4 keeps a time-ordered index instead. Add one if profiles show the scan.
func (p *planner) claimIdle(minIdleMs int64, limit int, st Stream, res *ReadResult) error {
	type candidate struct {
		id batch.ID
		e  *pendingEntry
	}
	var candidates []candidate
	now := p.entry.NowMs
	p.g.pending.ascend(batch.ID{}, func(id batch.ID, e *pendingEntry) bool {
		if subMs(now, e.deliveryMs) >= minIdleMs {
			candidates = append(candidates, candidate{id, e})
		}
		return true
	})
	slices.SortStableFunc(candidates, func(a, b candidate) int {
		switch {
		case a.e.deliveryMs < b.e.deliveryMs:
			return -1
		case a.e.deliveryMs > b.e.deliveryMs:
			return 1
		}
		return a.id.Compare(b.id)
	})
	for _, cand := range candidates {
		if len(res.Entries)+len(res.Deleted)+len(res.DeadLetters) >= limit {
			break
		}
		id, e := cand.id, cand.e
		if !st.Exists(id) {
			p.ack(id)
			res.Deleted = append(res.Deleted, id)
			continue
		}
		if err := p.touch(); err != nil {
			return err
		}
		v, _ := p.pending(id)
		if p.g.reachedMaxDeliveries(e.deliveryCount) {
			res.DeadLetters = append(res.DeadLetters, p.deadLetter(id, v))
			continue
		}
		_ = p.deliver(id, now, e.deliveryCount+1) // already pending: cannot fail
		res.Entries = append(res.Entries, Delivered{ID: id, Exists: true, Claimed: true, IdleMs: subMs(now, e.deliveryMs), DeliveryCount: e.deliveryCount})
	}
	if len(res.Entries) > 0 {
		p.markActive()
	}
	return nil
}

// readNew delivers up to limit entries above the group's last-delivered id.
func (p *planner) readNew(limit int, noAck bool, st Stream, res *ReadResult) error {
	ids := st.After(p.g.lastDelivered, limit)
	if len(ids) == 0 {
		return nil
	}
	if err := p.touch(); err != nil {
		return err
	}
	info := st.Info()
	last, entriesRead := p.g.lastDelivered, p.g.entriesRead
	delivered := 0
	for _, id := range ids {
		if !last.Less(id) {
			continue // Stream.After broke its contract; never move last-delivered backwards
		}
		if !noAck {
			if err := p.deliver(id, p.entry.NowMs, 1); err != nil {
				if delivered == 0 && len(res.Entries) == 0 {
					return err
				}
				break // deliver what fits
			}
		}
		entriesRead = info.advanceEntriesRead(entriesRead, id)
		last = id
		delivered++
		res.Entries = append(res.Entries, Delivered{ID: id, Exists: true})
	}
	if delivered == 0 {
		return nil
	}
	p.op(Op{Code: OpSetLastDelivered, ID: last, EntriesRead: entriesRead})
	if !noAck {
		p.markActive()
	}
	return nil
}
