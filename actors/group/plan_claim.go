package group

import "github.com/shoalmq/shoal/protocol/batch"

// planClaim is XCLAIM (Redis 7.0's xclaimCommand). For each id in order: an id deleted from the
// stream is dropped from the pending list if there (Deleted); an id not pending is skipped, or
// with FORCE made pending (delivery count 1, then incremented as below); a pending id idle less
// than MinIdleMs is skipped; otherwise it moves to the consumer with the chosen delivery time,
// and its delivery count becomes RETRYCOUNT, or count+1, or (JUSTID) stays. LASTID raises the
// group's last-delivered id (entries-read unchanged, as in Redis). The consumer is created or
// touched only when something is claimed.
func (s *State) planClaim(c Claim, st Stream, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupKeyOrGroup(c.Key, c.Group)
	}
	if len(c.IDs) > MaxIDsPerCommand {
		return Plan{}, limitError("XCLAIM takes at most %d ids", MaxIDsPerCommand)
	}
	minIdle := max(c.MinIdleMs, 0)
	deliveryMs := claimDeliveryMs(c, nowMs)
	p := newPlanner(g, c.Consumer, nowMs)
	if c.HasLastID && g.lastDelivered.Less(c.LastID) {
		p.op(Op{Code: OpSetLastDelivered, ID: c.LastID, EntriesRead: g.entriesRead})
	}
	retry := c.HasRetryCount && c.RetryCount >= 0
	increments := !retry && !c.JustID
	res := &ClaimResult{}
	for _, id := range c.IDs {
		v, pending := p.pending(id)
		if !st.Exists(id) {
			if pending {
				p.ack(id)
				res.Deleted = append(res.Deleted, id)
			}
			continue
		}
		forced := false
		if !pending {
			if !c.Force {
				continue
			}
			forced, v = true, pendingView{deliveryCount: 1}
		}
		if !forced && minIdle > 0 && subMs(nowMs, v.deliveryMs) < minIdle {
			continue
		}
		if err := p.touch(); err != nil {
			return Plan{}, err
		}
		if !forced && increments && g.reachedMaxDeliveries(v.deliveryCount) {
			res.DeadLetters = append(res.DeadLetters, p.deadLetter(id, v))
			continue
		}
		count := v.deliveryCount
		switch {
		case retry:
			count = c.RetryCount
		case !c.JustID:
			count++
		}
		if err := p.deliver(id, deliveryMs, count); err != nil {
			return Plan{}, err
		}
		res.Claimed = append(res.Claimed, ClaimedEntry{ID: id, DeliveryCount: count})
	}
	if len(res.Claimed) > 0 {
		p.markActive()
	}
	return Plan{Entry: p.finish(), Result: res}, nil
}

// claimDeliveryMs is the delivery time XCLAIM gives what it claims: IDLE and TIME as given,
// except that a time before 0 or after now becomes now (Redis does not fail on clock skew).
func claimDeliveryMs(c Claim, nowMs int64) int64 {
	t := nowMs
	switch c.DeliveryTime {
	case DeliveryTimeIdle:
		t = subMs(nowMs, c.DeliveryTimeMs)
	case DeliveryTimeAt:
		t = c.DeliveryTimeMs
	}
	if t < 0 || t > nowMs {
		return nowMs
	}
	return t
}

// planAutoClaim is XAUTOCLAIM (Redis 7.0's xautoclaimCommand): scan the pending list from Start
// in id order, examining at most COUNT*10 entries and taking at most COUNT: an entry deleted
// from the stream is dropped (Deleted, takes a slot), one idle less than MinIdleMs is skipped,
// the others move to the consumer with delivery time now and count+1 (unchanged with JUSTID).
// Next is the first pending id after the last examined, or 0-0 at the end.
func (s *State) planAutoClaim(c AutoClaim, st Stream, nowMs int64) (Plan, error) {
	if c.Count < 1 {
		return Plan{}, ErrAutoClaimCount
	}
	if c.Count > MaxCount {
		return Plan{}, limitError("COUNT %d exceeds the limit of %d", c.Count, MaxCount)
	}
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupKeyOrGroup(c.Key, c.Group)
	}
	minIdle := max(c.MinIdleMs, 0)
	p := newPlanner(g, c.Consumer, nowMs)
	res := &AutoClaimResult{}
	remaining, attempts := int(c.Count), int(c.Count)*autoClaimAttemptsFactor
	var err error
	g.pending.ascend(c.Start, func(id batch.ID, e *pendingEntry) bool {
		if attempts == 0 || remaining == 0 {
			res.Next = id
			return false
		}
		attempts--
		if !st.Exists(id) {
			p.ack(id)
			res.Deleted = append(res.Deleted, id)
			remaining--
			return true
		}
		if minIdle > 0 && subMs(nowMs, e.deliveryMs) < minIdle {
			return true
		}
		if err = p.touch(); err != nil {
			return false
		}
		v, _ := p.pending(id)
		remaining--
		if !c.JustID && g.reachedMaxDeliveries(v.deliveryCount) {
			res.DeadLetters = append(res.DeadLetters, p.deadLetter(id, v))
			return true
		}
		count := v.deliveryCount
		if !c.JustID {
			count++
		}
		_ = p.deliver(id, nowMs, count) // already pending: cannot fail
		res.Claimed = append(res.Claimed, ClaimedEntry{ID: id, DeliveryCount: count})
		return true
	})
	if err != nil {
		return Plan{}, err
	}
	if len(res.Claimed) > 0 {
		p.markActive()
	}
	return Plan{Entry: p.finish(), Result: res}, nil
}
