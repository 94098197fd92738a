package group

import "github.com/shoalmq/shoal/protocol/batch"

// The read-only commands: XPENDING, XINFO GROUPS, XINFO CONSUMERS and the group part of XINFO
// STREAM FULL. They never log an entry; notably extended XPENDING and XINFO do not refresh a
// consumer's seen time (Redis's SLC_NO_REFRESH).

func (s *State) planPendingSummary(c PendingSummary) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupKeyOrGroup(c.Key, c.Group)
	}
	res := PendingSummaryResult{Count: int64(g.pending.len())}
	if res.Count == 0 {
		return Plan{Result: res}, nil
	}
	res.Min, res.Max, _ = g.pending.bounds()
	for _, name := range g.consumerNames() {
		if n := g.consumers[name].pending.len(); n > 0 {
			res.Consumers = append(res.Consumers, ConsumerPending{Name: name, Count: int64(n)})
		}
	}
	return Plan{Result: res}, nil
}

func (s *State) planPendingRange(c PendingRange, nowMs int64) (Plan, error) {
	if c.Count > MaxCount {
		return Plan{}, limitError("COUNT %d exceeds the limit of %d", c.Count, MaxCount)
	}
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupKeyOrGroup(c.Key, c.Group)
	}
	res := PendingRangeResult{}
	list := &g.pending
	if c.HasConsumer {
		cons := g.consumers[c.Consumer]
		if cons == nil {
			return Plan{Result: res}, nil
		}
		list = &cons.pending
	}
	count := c.Count
	if count <= 0 {
		return Plan{Result: res}, nil
	}
	list.ascend(c.Start, func(id batch.ID, e *pendingEntry) bool {
		if c.End.Less(id) {
			return false
		}
		idle := subMs(nowMs, e.deliveryMs)
		if c.MinIdleMs != 0 && idle < c.MinIdleMs {
			return true
		}
		res.Entries = append(res.Entries, PendingEntry{ID: id, Consumer: e.owner.name, IdleMs: max(idle, 0), DeliveryCount: e.deliveryCount})
		count--
		return count > 0
	})
	return Plan{Result: res}, nil
}

// infoGroups is XINFO GROUPS; the shell answers a missing key itself.
func (s *State) infoGroups(st Stream) GroupsResult {
	info := st.Info()
	res := GroupsResult{Groups: make([]GroupInfo, 0, len(s.groups))}
	for _, name := range s.groupNames() {
		res.Groups = append(res.Groups, s.groups[name].info(info))
	}
	return res
}

func (g *group) info(st StreamInfo) GroupInfo {
	lag, known := st.lag(g.lastDelivered, g.entriesRead)
	return GroupInfo{
		Name:            g.name,
		Consumers:       int64(len(g.consumers)),
		Pending:         int64(g.pending.len()),
		LastDeliveredID: g.lastDelivered,
		EntriesRead:     g.entriesRead,
		Lag:             lag,
		LagKnown:        known,
		MaxDeliveries:   g.maxDeliveries,
	}
}

func (s *State) planInfoConsumers(c InfoConsumers, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupForKey(c.Key, c.Group)
	}
	res := ConsumersResult{Consumers: make([]ConsumerInfo, 0, len(g.consumers))}
	for _, name := range g.consumerNames() {
		cons := g.consumers[name]
		inactive := int64(-1)
		if cons.activeMs != -1 {
			inactive = subMs(nowMs, cons.activeMs)
		}
		res.Consumers = append(res.Consumers, ConsumerInfo{
			Name:       name,
			Pending:    int64(cons.pending.len()),
			IdleMs:     max(subMs(nowMs, cons.seenMs), 0),
			InactiveMs: inactive,
			SeenMs:     cons.seenMs,
			ActiveMs:   cons.activeMs,
		})
	}
	return Plan{Result: res}, nil
}

func (s *State) planInfoStreamFull(c InfoStreamFull, st Stream) (Plan, error) {
	if c.Count > MaxCount {
		return Plan{}, limitError("COUNT %d exceeds the limit of %d", c.Count, MaxCount)
	}
	limit := int(c.Count)
	if limit <= 0 {
		limit = MaxCount
	}
	info := st.Info()
	res := StreamFullResult{Groups: make([]GroupFull, 0, len(s.groups))}
	for _, name := range s.groupNames() {
		g := s.groups[name]
		full := GroupFull{GroupInfo: g.info(info), PELCount: int64(g.pending.len())}
		full.Pending = fullPending(&g.pending, limit, true)
		for _, cname := range g.consumerNames() {
			cons := g.consumers[cname]
			full.Consumers = append(full.Consumers, ConsumerFull{
				Name:     cname,
				SeenMs:   cons.seenMs,
				ActiveMs: cons.activeMs,
				PELCount: int64(cons.pending.len()),
				Pending:  fullPending(&cons.pending, limit, false),
			})
		}
		res.Groups = append(res.Groups, full)
	}
	return Plan{Result: res}, nil
}

func fullPending(list *pendingList, limit int, withConsumer bool) []FullPending {
	var out []FullPending
	list.ascend(batch.ID{}, func(id batch.ID, e *pendingEntry) bool {
		p := FullPending{ID: id, DeliveryMs: e.deliveryMs, DeliveryCount: e.deliveryCount}
		if withConsumer {
			p.Consumer = e.owner.name
		}
		out = append(out, p)
		return len(out) < limit
	})
	return out
}
