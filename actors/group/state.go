package group

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/protocol/batch"
)

// State is every consumer group of one partition's stream. Apply is its only mutator; Plan and
// the query helpers only read. Not safe for concurrent use (see the package doc).
type State struct {
	// Invariant: groups[name].name == name; len(groups) <= MaxGroups when every entry came from
	// Plan.
	groups map[string]*group
}

// group is one consumer group (Redis's streamCG).
type group struct {
	name          string
	lastDelivered batch.ID // the last id delivered by a '>' read, or set by SETID/LASTID
	// entriesRead is the logical read counter of lastDelivered. Invariant: >= EntriesReadUnknown.
	entriesRead int64
	// maxDeliveries is the dead-letter bound (0: off). Invariant: >= 0.
	maxDeliveries int64
	// Invariant: consumers[name].name == name.
	consumers map[string]*consumer
	// pending is the group's pending entries list. Invariant: its entries are exactly the union
	// of the consumers' lists, each owned by the consumer whose list holds it.
	pending pendingList
}

// consumer is one consumer of a group (Redis's streamConsumer).
type consumer struct {
	name   string
	seenMs int64 // last interaction (Redis 7.0 seen-time)
	// activeMs is the last successful interaction (Redis 7.2 active-time); -1 when never.
	activeMs int64
	pending  pendingList
}

// NewState returns a State with no groups.
func NewState() *State { return &State{groups: make(map[string]*group)} }

// groupNames returns the names of the groups in byte order.
func (s *State) groupNames() []string {
	names := make([]string, 0, len(s.groups))
	for name := range s.groups {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (g *group) consumerNames() []string {
	names := make([]string, 0, len(g.consumers))
	for name := range g.consumers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ErrBadEntry is returned by Apply for an entry that does not fit the state: an entry that
// creates an existing group, or changes a missing one. Entries from Plan, applied in the order
// planned, never do; the shell should treat it as a broken log.
var ErrBadEntry = errors.New("group: entry does not apply to this state")

// Apply applies one entry: the only way a State changes. It is deterministic: the same entries
// in the same order give the same state on every replica. An entry that does not fit (see
// ErrBadEntry) leaves the state unchanged. Apply retains no part of e.
func (s *State) Apply(e *Entry) error {
	if err := s.check(e); err != nil {
		return err
	}
	g := s.groups[e.Group]
	for _, op := range e.Ops {
		switch op.Code {
		case OpCreateGroup:
			g = &group{
				name:          strings.Clone(e.Group),
				lastDelivered: op.ID,
				entriesRead:   op.EntriesRead,
				maxDeliveries: op.MaxDeliveries,
				consumers:     make(map[string]*consumer),
			}
			s.groups[g.name] = g
		case OpDestroyGroup:
			delete(s.groups, e.Group)
		case OpSetLastDelivered:
			g.lastDelivered, g.entriesRead = op.ID, op.EntriesRead
		case OpSetMaxDeliveries:
			g.maxDeliveries = op.MaxDeliveries
		case OpSeen:
			g.consumer(e.Consumer, e.NowMs).seenMs = e.NowMs
		case OpActive:
			g.consumer(e.Consumer, e.NowMs).activeMs = e.NowMs
		case OpDeleteConsumer:
			g.deleteConsumer(e.Consumer)
		case OpPending:
			g.setPending(op.ID, g.consumer(e.Consumer, e.NowMs), op.DeliveryMs, op.DeliveryCount)
		case OpAck:
			g.ack(op.ID)
		}
	}
	return nil
}

// check is Apply's precondition: group existence, creation only first, destruction only last,
// known op codes and field ranges.
func (s *State) check(e *Entry) error {
	exists := s.groups[e.Group] != nil
	for i, op := range e.Ops {
		if err := op.validate(); err != nil {
			return fmt.Errorf("%w: op %d: %w", ErrBadEntry, i, err)
		}
		switch {
		case op.Code == OpCreateGroup && (i != 0 || exists):
			return fmt.Errorf("%w: op %d creates group %q, which exists", ErrBadEntry, i, e.Group)
		case op.Code == OpCreateGroup:
			exists = true
		case !exists:
			return fmt.Errorf("%w: op %d (%s) on missing group %q", ErrBadEntry, i, op.Code, e.Group)
		case op.Code == OpDestroyGroup && i != len(e.Ops)-1:
			return fmt.Errorf("%w: op %d destroys group %q before the last op", ErrBadEntry, i, e.Group)
		}
	}
	return nil
}

// consumer returns the named consumer, creating it (seen at nowMs, never active) when missing.
func (g *group) consumer(name string, nowMs int64) *consumer {
	c := g.consumers[name]
	if c == nil {
		c = &consumer{name: strings.Clone(name), seenMs: nowMs, activeMs: -1}
		g.consumers[c.name] = c
	}
	return c
}

// setPending makes id pending for owner with the given delivery data, moving it from its
// previous owner if any.
func (g *group) setPending(id batch.ID, owner *consumer, deliveryMs, deliveryCount int64) {
	e := g.pending.get(id)
	if e == nil {
		e = &pendingEntry{}
		g.pending.put(id, e)
	} else if e.owner != owner {
		e.owner.pending.remove(id)
	}
	e.owner, e.deliveryMs, e.deliveryCount = owner, deliveryMs, deliveryCount
	owner.pending.put(id, e)
}

// ack drops id from the pending lists; absent ids are ignored.
func (g *group) ack(id batch.ID) {
	e := g.pending.get(id)
	if e == nil {
		return
	}
	e.owner.pending.remove(id)
	g.pending.remove(id)
}

// deleteConsumer drops a consumer and its pending entries (Redis's streamDelConsumer).
func (g *group) deleteConsumer(name string) {
	c := g.consumers[name]
	if c == nil {
		return
	}
	for id := range c.pending.byID {
		g.pending.remove(id)
	}
	delete(g.consumers, name)
}

// checkInvariants verifies the invariants of the whole state; tests call it after every step.
// It returns the first violation found.
func (s *State) checkInvariants() error {
	for name, g := range s.groups {
		if g.name != name || g.entriesRead < EntriesReadUnknown || g.maxDeliveries < 0 {
			return fmt.Errorf("group %q: name %q entriesRead %d maxDeliveries %d", name, g.name, g.entriesRead, g.maxDeliveries)
		}
		if err := g.pending.checkOrder(); err != nil {
			return fmt.Errorf("group %q: %w", name, err)
		}
		owned := 0
		for cname, c := range g.consumers {
			if c.name != cname {
				return fmt.Errorf("group %q: consumer key %q holds %q", name, cname, c.name)
			}
			if err := c.pending.checkOrder(); err != nil {
				return fmt.Errorf("group %q consumer %q: %w", name, cname, err)
			}
			for id, e := range c.pending.byID {
				if e.owner != c || g.pending.get(id) != e || e.deliveryCount < 0 {
					return fmt.Errorf("group %q consumer %q: pending %s owned by %q, in group list %v", name, cname, id, e.owner.name, g.pending.get(id) == e)
				}
			}
			owned += c.pending.len()
		}
		if owned != g.pending.len() {
			return fmt.Errorf("group %q: consumers own %d pending entries, the group lists %d", name, owned, g.pending.len())
		}
	}
	return nil
}

func (p *pendingList) checkOrder() error {
	for i := 1; i < len(p.order); i++ {
		if !p.order[i-1].Less(p.order[i]) {
			return fmt.Errorf("pending order not ascending at %d: %s then %s", i, p.order[i-1], p.order[i])
		}
	}
	for id := range p.byID {
		if _, found := p.search(id); !found {
			return fmt.Errorf("pending id %s missing from order", id)
		}
	}
	return nil
}

// Len returns the number of groups.
func (s *State) Len() int { return len(s.groups) }
