package group

import (
	"fmt"
	"math"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Plan validates cmd against the state and the stream and returns the entry to log (nil when
// nothing changes) and the client's result. It does not mutate the state: the shell logs
// Plan.Entry and then calls Apply with it before planning the next command. nowMs is the
// leader's clock in unix ms. Errors carry Redis's reply text (see errors.go).
func (s *State) Plan(cmd Command, st Stream, nowMs int64) (Plan, error) {
	switch c := cmd.(type) {
	case CreateGroup:
		return s.planCreateGroup(c, st, nowMs)
	case SetGroupID:
		return s.planSetGroupID(c, st, nowMs)
	case DestroyGroup:
		return s.planDestroyGroup(c, nowMs)
	case CreateConsumer:
		return s.planCreateConsumer(c, nowMs)
	case DeleteConsumer:
		return s.planDeleteConsumer(c, nowMs)
	case SetMaxDeliveries:
		return s.planSetMaxDeliveries(c, nowMs)
	case ReadGroup:
		return s.planRead(c, st, nowMs)
	case Ack:
		return s.planAck(c, nowMs)
	case PendingSummary:
		return s.planPendingSummary(c)
	case PendingRange:
		return s.planPendingRange(c, nowMs)
	case Claim:
		return s.planClaim(c, st, nowMs)
	case AutoClaim:
		return s.planAutoClaim(c, st, nowMs)
	case InfoGroups:
		return Plan{Result: s.infoGroups(st)}, nil
	case InfoConsumers:
		return s.planInfoConsumers(c, nowMs)
	case InfoStreamFull:
		return s.planInfoStreamFull(c, st)
	}
	panic(fmt.Sprintf("group: Plan of unknown command %T", cmd)) // Command is sealed
}

func checkName(kind, name string) error {
	if len(name) > MaxNameBytes {
		return limitError("%s name of %d bytes exceeds the limit of %d bytes", kind, len(name), MaxNameBytes)
	}
	return nil
}

func (s *State) planCreateGroup(c CreateGroup, st Stream, nowMs int64) (Plan, error) {
	entriesRead := EntriesReadUnknown
	if c.HasEntriesRead {
		if c.EntriesRead < EntriesReadUnknown {
			return Plan{}, ErrEntriesRead
		}
		entriesRead = c.EntriesRead
	}
	if c.MaxDeliveries < 0 {
		return Plan{}, invalidArgument("max deliveries must be >= 0")
	}
	if err := checkName("group", c.Group); err != nil {
		return Plan{}, err
	}
	if s.groups[c.Group] != nil {
		return Plan{}, ErrBusyGroup
	}
	if len(s.groups) >= MaxGroups {
		return Plan{}, limitError("a partition holds at most %d consumer groups", MaxGroups)
	}
	id := c.ID
	if c.FromLast {
		id = st.Info().LastID
	}
	op := Op{Code: OpCreateGroup, ID: id, EntriesRead: entriesRead, MaxDeliveries: c.MaxDeliveries}
	return Plan{Entry: &Entry{Group: c.Group, NowMs: nowMs, Ops: []Op{op}}, Result: OK{}}, nil
}

func (s *State) planSetGroupID(c SetGroupID, st Stream, nowMs int64) (Plan, error) {
	entriesRead := EntriesReadUnknown
	if c.HasEntriesRead {
		if c.EntriesRead < EntriesReadUnknown {
			return Plan{}, ErrEntriesRead
		}
		entriesRead = c.EntriesRead
	}
	if s.groups[c.Group] == nil {
		return Plan{}, noGroupForKey(c.Key, c.Group)
	}
	id := c.ID
	if c.FromLast {
		id = st.Info().LastID
	}
	op := Op{Code: OpSetLastDelivered, ID: id, EntriesRead: entriesRead}
	return Plan{Entry: &Entry{Group: c.Group, NowMs: nowMs, Ops: []Op{op}}, Result: OK{}}, nil
}

func (s *State) planDestroyGroup(c DestroyGroup, nowMs int64) (Plan, error) {
	if s.groups[c.Group] == nil {
		return Plan{Result: Destroyed{}}, nil
	}
	e := &Entry{Group: c.Group, NowMs: nowMs, Ops: []Op{{Code: OpDestroyGroup}}}
	return Plan{Entry: e, Result: Destroyed{Destroyed: true}}, nil
}

func (s *State) planCreateConsumer(c CreateConsumer, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupForKey(c.Key, c.Group)
	}
	if g.consumers[c.Consumer] != nil {
		return Plan{Result: ConsumerCreated{}}, nil
	}
	p := newPlanner(g, c.Consumer, nowMs)
	if err := p.touch(); err != nil {
		return Plan{}, err
	}
	return Plan{Entry: p.finish(), Result: ConsumerCreated{Created: true}}, nil
}

func (s *State) planDeleteConsumer(c DeleteConsumer, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupForKey(c.Key, c.Group)
	}
	cons := g.consumers[c.Consumer]
	if cons == nil {
		return Plan{Result: ConsumerDeleted{}}, nil
	}
	e := &Entry{Group: c.Group, Consumer: c.Consumer, NowMs: nowMs, Ops: []Op{{Code: OpDeleteConsumer}}}
	return Plan{Entry: e, Result: ConsumerDeleted{Pending: int64(cons.pending.len())}}, nil
}

func (s *State) planSetMaxDeliveries(c SetMaxDeliveries, nowMs int64) (Plan, error) {
	g := s.groups[c.Group]
	if g == nil {
		return Plan{}, noGroupForKey(c.Key, c.Group)
	}
	if c.MaxDeliveries < 0 {
		return Plan{}, invalidArgument("max deliveries must be >= 0")
	}
	if g.maxDeliveries == c.MaxDeliveries {
		return Plan{Result: OK{}}, nil
	}
	op := Op{Code: OpSetMaxDeliveries, MaxDeliveries: c.MaxDeliveries}
	return Plan{Entry: &Entry{Group: c.Group, NowMs: nowMs, Ops: []Op{op}}, Result: OK{}}, nil
}

func (s *State) planAck(c Ack, nowMs int64) (Plan, error) {
	if len(c.IDs) > MaxIDsPerCommand {
		return Plan{}, limitError("XACK takes at most %d ids", MaxIDsPerCommand)
	}
	g := s.groups[c.Group]
	if g == nil {
		return Plan{Result: Acked{}}, nil // Redis: no key or group, nothing to ack
	}
	p := newPlanner(g, "", nowMs)
	var acked int64
	for _, id := range c.IDs {
		if _, ok := p.pending(id); ok {
			p.ack(id)
			acked++
		}
	}
	return Plan{Entry: p.finish(), Result: Acked{Acked: acked}}, nil
}

// planner builds one Entry for one group while answering one command. It sees the pending list
// as the ops planned so far will leave it, so a command that touches an id twice (XCLAIM with a
// repeated id) behaves as Redis's sequential code does.
type planner struct {
	g       *group
	entry   *Entry
	touched bool // OpSeen planned: the consumer exists once the entry applies
	active  bool // OpActive planned
	// changed overrides g.pending for ids this plan changed; a nil value means acknowledged.
	changed map[batch.ID]*pendingView
	added   int // ids this plan adds to the pending list
}

// pendingView is a pending entry as the plan so far leaves it.
type pendingView struct {
	owner         string
	deliveryMs    int64
	deliveryCount int64
}

func newPlanner(g *group, consumerName string, nowMs int64) *planner {
	return &planner{g: g, entry: &Entry{Group: g.name, Consumer: consumerName, NowMs: nowMs}}
}

func (p *planner) op(op Op) { p.entry.Ops = append(p.entry.Ops, op) }

// finish returns the entry, or nil when the plan changes nothing.
func (p *planner) finish() *Entry {
	if len(p.entry.Ops) == 0 {
		return nil
	}
	return p.entry
}

// touch plans the consumer's creation (when missing) and seen-time update, once.
func (p *planner) touch() error {
	if p.touched {
		return nil
	}
	name := p.entry.Consumer
	if p.g.consumers[name] == nil {
		if err := checkName("consumer", name); err != nil {
			return err
		}
		if len(p.g.consumers) >= MaxConsumersPerGroup {
			return limitError("a consumer group holds at most %d consumers", MaxConsumersPerGroup)
		}
	}
	p.op(Op{Code: OpSeen})
	p.touched = true
	return nil
}

// markActive plans the consumer's active-time update (Redis 7.2: a successful delivery), once.
func (p *planner) markActive() {
	if !p.active {
		p.op(Op{Code: OpActive})
		p.active = true
	}
}

func (p *planner) pending(id batch.ID) (pendingView, bool) {
	if v, ok := p.changed[id]; ok {
		if v == nil {
			return pendingView{}, false
		}
		return *v, true
	}
	e := p.g.pending.get(id)
	if e == nil {
		return pendingView{}, false
	}
	return pendingView{owner: e.owner.name, deliveryMs: e.deliveryMs, deliveryCount: e.deliveryCount}, true
}

func (p *planner) set(id batch.ID, v *pendingView) {
	if p.changed == nil {
		p.changed = make(map[batch.ID]*pendingView)
	}
	p.changed[id] = v
}

// deliver plans id pending for the planner's consumer (which touch must have planned). It fails
// with ErrPendingFull when id is not pending and the list is full.
func (p *planner) deliver(id batch.ID, deliveryMs, deliveryCount int64) error {
	if _, ok := p.pending(id); !ok {
		if p.g.pending.len()+p.added >= MaxPendingPerGroup {
			return ErrPendingFull
		}
		if p.g.pending.get(id) == nil {
			p.added++
		}
	}
	p.op(Op{Code: OpPending, ID: id, DeliveryMs: deliveryMs, DeliveryCount: deliveryCount})
	p.set(id, &pendingView{owner: p.entry.Consumer, deliveryMs: deliveryMs, deliveryCount: deliveryCount})
	return nil
}

// ack plans id's removal from the pending list.
func (p *planner) ack(id batch.ID) {
	if p.g.pending.get(id) == nil {
		p.added-- // added by this plan, now gone again
	}
	p.op(Op{Code: OpAck, ID: id})
	p.set(id, nil)
}

// deadLetter plans the dead-lettering of a pending entry (see the package doc).
func (p *planner) deadLetter(id batch.ID, v pendingView) DeadLetter {
	p.ack(id)
	return DeadLetter{Group: p.g.name, Consumer: p.entry.Consumer, Owner: v.owner, ID: id, DeliveryCount: v.deliveryCount}
}

// reachedMaxDeliveries reports whether a pending entry delivered count times may not be
// delivered (with an increment) again.
func (g *group) reachedMaxDeliveries(count int64) bool {
	return g.maxDeliveries > 0 && count >= g.maxDeliveries
}

// subMs is now - since, saturating instead of overflowing.
func subMs(nowMs, sinceMs int64) int64 {
	if sinceMs < 0 && nowMs > math.MaxInt64+sinceMs {
		return math.MaxInt64
	}
	if sinceMs > 0 && nowMs < math.MinInt64+sinceMs {
		return math.MinInt64
	}
	return nowMs - sinceMs
}

// nextID is the smallest id above id; ok is false for batch.MaxID.
func nextID(id batch.ID) (batch.ID, bool) {
	switch {
	case id.Seq < math.MaxUint64:
		return batch.ID{Ms: id.Ms, Seq: id.Seq + 1}, true
	case id.Ms < math.MaxUint64:
		return batch.ID{Ms: id.Ms + 1}, true
	}
	return id, false
}
