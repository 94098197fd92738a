// Package check is the simulator's history checker: it is told, as the run goes, every batch
// that falls below some replica's commit point, every leader, every consumer poll and every
// range of offsets a crash dropped from a replica's disk; at the end it is given the healed
// partition's log and the history of operations, and it reports each broken invariant with
// its evidence.
//
// Invariants (docs/design.md, "Simulation as built"):
//
//   - acked-lost: a record acknowledged under acks=quorum is not in the healed log at the offset
//     it was acknowledged with. Records acknowledged under acks=leader or none that are missing
//     are counted (Counts.LostLeader, LostNone), not failures.
//   - duplicate: one record at two offsets.
//   - inconsistent-offsets: a replica holds, below its commit point, an entry other than the
//     one committed there before (two replicas disagree below the commit point, or a committed
//     entry changed); a consumer saw different entries at one offset; an acknowledged or read
//     record sits at another offset in the healed log.
//   - aborted-read: a consumer saw a record that the healed log does not hold (it was truncated).
//   - poll-skip, poll-non-monotonic: a poll did not start at the consumer's position or its
//     offsets were not dense and increasing.
//   - two-leaders: two nodes led one epoch of a partition.
//   - id-order and corrupt-read (cluster tier): record ids of the healed log do not strictly
//     increase; a read returned a batch that fails its checks.
//
// With fsync=interval a replica acknowledges what its page cache holds, so a crash of a
// majority of the replica set may lose acknowledged, even committed, records: the design
// promises them only while a majority survives. The checker excuses a loss at an offset that a
// majority of the replicas dropped in crashes (Excused), and counts it; under fsync=always it
// excuses nothing.
package check

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/shoalmq/shoal/actors/replication"
)

// Invariant names a property the checker (or the simulator, for liveness and for the core's
// own assertions) checks.
type Invariant string

// Invariants. Append only: a name, once given a meaning, keeps it (reports and canary tables
// name them).
const (
	AckedLost           Invariant = "acked-lost"
	Duplicate           Invariant = "duplicate"
	InconsistentOffsets Invariant = "inconsistent-offsets"
	AbortedRead         Invariant = "aborted-read"
	PollSkip            Invariant = "poll-skip"
	PollNonMonotonic    Invariant = "poll-non-monotonic"
	TwoLeaders          Invariant = "two-leaders"
	// RefusedWrite: the core asked its shell for a write the log refuses (an append off the log
	// end, a truncation inside a batch): the shell would fail the partition.
	RefusedWrite Invariant = "refused-write"
	// CorePanic: an assertion of the core under test fired (a broken invariant it checks itself).
	CorePanic Invariant = "core-panic"
	// Liveness: after healing, the partitions did not converge within the bound (one leader,
	// every replica caught up and clean, logs identical, everything committed).
	Liveness Invariant = "liveness"
	// IDOrder: the cluster tier's healed log holds record ids that do not strictly increase
	// (clock skew between leaders must not reorder them).
	IDOrder Invariant = "id-order"
	// CorruptRead: a consumer or a replica's committed read got a batch that fails its CRC or
	// its record checks (the cluster tier; damage must be refused, never served).
	CorruptRead Invariant = "corrupt-read"
	// GroupRedelivered and GroupLost: a consumer group broke what it told its consumers (the
	// cluster tier; see groups.go).
	GroupRedelivered Invariant = "group-redelivered"
	GroupLost        Invariant = "group-lost"
)

// Invariants lists every invariant in report order.
func Invariants() []Invariant {
	return []Invariant{AckedLost, Duplicate, InconsistentOffsets, AbortedRead, PollSkip, PollNonMonotonic,
		TwoLeaders, RefusedWrite, CorePanic, Liveness, IDOrder, CorruptRead, GroupRedelivered, GroupLost}
}

// Kind is a class of failure; each has its own exit code in `shoal sim`.
type Kind string

// Kinds of failure.
const (
	KindNone     Kind = ""
	KindSafety   Kind = "safety"
	KindLiveness Kind = "liveness"
	// KindCrash: the simulator itself failed (a panic outside the core under test).
	KindCrash Kind = "crash"
)

// Kind returns the class of failure an invariant belongs to.
func (i Invariant) Kind() Kind {
	if i == Liveness {
		return KindLiveness
	}
	return KindSafety
}

// Violation is one broken invariant with its evidence.
type Violation struct {
	Invariant Invariant            `json:"invariant"`
	Tick      int64                `json:"tick"`
	Partition int                  `json:"partition"`
	Offset    replication.Offset   `json:"offset"`
	Replicas  []replication.NodeID `json:"replicas,omitempty"`
	Detail    string               `json:"detail"`
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s: partition %d offset %d at tick %d: %s", v.Invariant, v.Partition, v.Offset, v.Tick, v.Detail)
	if len(v.Replicas) > 0 {
		s += fmt.Sprintf(" (replicas %v)", v.Replicas)
	}
	return s
}

// Counts are what the checker counted besides violations.
type Counts struct {
	// LostLeader and LostNone: acknowledged records under acks=leader and none missing after
	// healing (allowed: those levels trade safety for latency).
	LostLeader, LostNone int
	// Excused: losses at offsets a majority of replicas dropped in crashes under fsync=interval.
	Excused int
	// UnknownSurvived and UnknownLost: records of indeterminate produces found and not found.
	UnknownSurvived, UnknownLost int
	// Checked: committed entries checked; Observed: entries consumers read.
	Checked, Observed int
	// GroupDelivered: entries consumer groups delivered; GroupExcused: group violations on a
	// partition where a majority crashed under fsync=interval (see groups.go).
	GroupDelivered, GroupExcused int
}

// LostRecord is an acknowledged record missing from the healed log.
type LostRecord struct {
	Partition int                `json:"partition"`
	Offset    replication.Offset `json:"offset"`
	Value     string             `json:"value"`
	Acks      Acks               `json:"acks"`
	Tick      int64              `json:"tick"` // when it was acknowledged
	// Allowed: acks=leader or none, or excused (see Excused).
	Allowed bool `json:"allowed"`
}

// maxViolations bounds the violations kept with their evidence (all are counted).
const maxViolations = 20

// Checker holds what the run has shown so far.
type Checker struct {
	nodes       []replication.NodeID
	excuseCrash bool
	quorum      int // replicas that make a majority (0: a majority of nodes)
	parts       []*partition
	violations  []Violation
	lost        []LostRecord
	counts      map[Invariant]int
	Counts      Counts
}

type committed struct {
	set   bool
	entry Entry
	by    replication.NodeID
}

type partition struct {
	committed []committed
	valueAt   map[string]replication.Offset
	observed  []Entry // by offset; ID "" when unseen
	lostBy    map[replication.Offset]uint64
	leaders   map[replication.Epoch]replication.NodeID
	group     *groupPartition // nil until a group consumer reports
}

// New returns a checker for partitions of a replica set of nodes. excuseCrashLoss is true
// under fsync=interval (see the package doc).
func New(partitions int, nodes []replication.NodeID, excuseCrashLoss bool) *Checker {
	c := &Checker{nodes: nodes, excuseCrash: excuseCrashLoss, counts: map[Invariant]int{}}
	for range partitions {
		c.parts = append(c.parts, &partition{valueAt: map[string]replication.Offset{},
			lostBy: map[replication.Offset]uint64{}, leaders: map[replication.Epoch]replication.NodeID{}})
	}
	return c
}

// SetQuorum sets how many replicas make a majority when the replica sets are smaller than
// the list of nodes (the cluster tier: RF 3 among nodes that join and leave); the default is
// a majority of the nodes.
func (c *Checker) SetQuorum(q int) { c.quorum = q }

// Violate records a violation (the simulator reports liveness, refused writes and core panics
// through it too).
func (c *Checker) Violate(v Violation) {
	c.counts[v.Invariant]++
	if len(c.violations) < maxViolations {
		c.violations = append(c.violations, v)
	}
}

// Violations returns the violations kept, in the order found.
func (c *Checker) Violations() []Violation { return slices.Clone(c.violations) }

// Lost returns the acknowledged records missing after healing (at most maxLost).
func (c *Checker) Lost() []LostRecord { return slices.Clone(c.lost) }

// maxLost bounds the lost records kept.
const maxLost = 1000

func (c *Checker) addLost(p int, op Op, i int, allowed bool) {
	if len(c.lost) < maxLost {
		c.lost = append(c.lost, LostRecord{Partition: p, Offset: op.Offset + replication.Offset(i), Value: op.Values[i],
			Acks: op.Acks, Tick: op.Complete, Allowed: allowed})
	}
}

// Count returns how many times an invariant broke.
func (c *Checker) Count(i Invariant) int { return c.counts[i] }

// Failed returns the kind of the first violation, KindNone when there is none.
func (c *Checker) Failed() Kind {
	if len(c.violations) == 0 {
		return KindNone
	}
	for _, v := range c.violations {
		if v.Invariant.Kind() == KindSafety {
			return KindSafety
		}
	}
	return KindLiveness
}

// Leader records that node leads epoch e of partition p.
func (c *Checker) Leader(tick int64, p int, e replication.Epoch, node replication.NodeID) {
	pt := c.parts[p]
	if other, ok := pt.leaders[e]; ok && other != node {
		c.Violate(Violation{Invariant: TwoLeaders, Tick: tick, Partition: p, Replicas: []replication.NodeID{other, node},
			Detail: fmt.Sprintf("%s and %s both led epoch %d", other, node, e)})
		return
	}
	pt.leaders[e] = node
}

// Dropped records that a crash of node dropped offsets [from, to) from its disk.
func (c *Checker) Dropped(p int, node replication.NodeID, from, to replication.Offset) {
	bit := uint64(1) << slices.Index(c.nodes, node)
	for o := from; o < to; o++ {
		c.parts[p].lostBy[o] |= bit
	}
}

// Excused reports whether a loss at offset o of partition p is allowed: under fsync=interval,
// a majority of the replicas dropped that offset in crashes.
func (c *Checker) Excused(p int, o replication.Offset) bool {
	q := c.quorum
	if q == 0 {
		q = len(c.nodes)/2 + 1
	}
	return c.excuseCrash && bits.OnesCount64(c.parts[p].lostBy[o]) >= q
}

// Committed checks the entries of a batch that lies below node's commit point against what
// was committed at those offsets before, and remembers them.
func (c *Checker) Committed(tick int64, p int, node replication.NodeID, entries []Entry) {
	pt := c.parts[p]
	for _, e := range entries {
		for int(e.Offset) >= len(pt.committed) {
			pt.committed = append(pt.committed, committed{})
		}
		old := &pt.committed[e.Offset]
		c.Counts.Checked++
		switch {
		case !old.set:
		case old.entry.ID == e.ID && old.entry.Base == e.Base:
			continue
		case c.Excused(p, e.Offset):
			c.Counts.Excused++
		default:
			c.Violate(Violation{Invariant: InconsistentOffsets, Tick: tick, Partition: p, Offset: e.Offset,
				Replicas: []replication.NodeID{old.by, node},
				Detail: fmt.Sprintf("%s holds %s (batch %d, epoch %d) below its commit point where %s committed %s (batch %d, epoch %d)",
					node, e.ID, e.Base, e.Epoch, old.by, old.entry.ID, old.entry.Base, old.entry.Epoch)})
			continue
		}
		*old = committed{set: true, entry: e, by: node}
		if e.Control {
			continue
		}
		if at, ok := pt.valueAt[e.ID]; ok && at != e.Offset && !c.Excused(p, at) {
			c.Violate(Violation{Invariant: Duplicate, Tick: tick, Partition: p, Offset: e.Offset, Replicas: []replication.NodeID{node},
				Detail: fmt.Sprintf("record %s committed at offsets %d and %d", e.ID, at, e.Offset)})
		}
		pt.valueAt[e.ID] = e.Offset
	}
}

// Poll checks one poll of a consumer that asked for entries from offset from and got entries,
// and remembers what it saw.
func (c *Checker) Poll(tick int64, p int, consumer string, node replication.NodeID, from replication.Offset, entries []Entry) {
	pt := c.parts[p]
	next := from
	for _, e := range entries {
		switch {
		case e.Offset > next:
			c.Violate(Violation{Invariant: PollSkip, Tick: tick, Partition: p, Offset: next, Replicas: []replication.NodeID{node},
				Detail: fmt.Sprintf("consumer %s expected offset %d from %s and got %d", consumer, next, node, e.Offset)})
		case e.Offset < next:
			c.Violate(Violation{Invariant: PollNonMonotonic, Tick: tick, Partition: p, Offset: e.Offset, Replicas: []replication.NodeID{node},
				Detail: fmt.Sprintf("consumer %s at offset %d got offset %d from %s", consumer, next, e.Offset, node)})
		}
		next = e.Offset + 1
		c.Counts.Observed++
		for int(e.Offset) >= len(pt.observed) {
			pt.observed = append(pt.observed, Entry{})
		}
		seen := &pt.observed[e.Offset]
		switch {
		case seen.ID == "":
			*seen = e
		case seen.ID != e.ID && !c.Excused(p, e.Offset):
			c.Violate(Violation{Invariant: InconsistentOffsets, Tick: tick, Partition: p, Offset: e.Offset, Replicas: []replication.NodeID{node},
				Detail: fmt.Sprintf("consumer %s read %s at offset %d from %s; %s was read there before", consumer, e.ID, e.Offset, node, seen.ID)})
		}
	}
}

// Final checks partition p's healed log (every entry, all committed) against the history and
// against what consumers read.
func (c *Checker) Final(p int, log []Entry, h *History) {
	pt := c.parts[p]
	at := make(map[string]replication.Offset, len(log))
	for _, e := range log {
		if e.Control {
			continue
		}
		if o, ok := at[e.ID]; ok {
			c.Violate(Violation{Invariant: Duplicate, Tick: -1, Partition: p, Offset: e.Offset,
				Detail: fmt.Sprintf("record %s at offsets %d and %d of the healed log", e.ID, o, e.Offset)})
		}
		at[e.ID] = e.Offset
	}
	for _, op := range h.Ops {
		if op.Kind == Produce && op.Partition == p {
			c.finalProduce(p, op, at)
		}
	}
	for o, seen := range pt.observed {
		if seen.ID == "" {
			continue
		}
		off := replication.Offset(o)
		got, ok := at[seen.ID]
		switch {
		case seen.Control:
			if int(off) >= len(log) || log[off].ID != seen.ID {
				c.finalReadLost(p, off, seen, log)
			}
		case ok && got == off:
		case ok:
			c.Violate(Violation{Invariant: InconsistentOffsets, Tick: -1, Partition: p, Offset: off,
				Detail: fmt.Sprintf("a consumer read %s at offset %d; the healed log has it at %d", seen.ID, off, got)})
		default:
			c.finalReadLost(p, off, seen, log)
		}
	}
}

func (c *Checker) finalReadLost(p int, off replication.Offset, seen Entry, log []Entry) {
	if c.Excused(p, off) {
		c.Counts.Excused++
		return
	}
	now := "nothing"
	if int(off) < len(log) {
		now = log[off].ID
	}
	c.Violate(Violation{Invariant: AbortedRead, Tick: -1, Partition: p, Offset: off,
		Detail: fmt.Sprintf("a consumer read %s at offset %d (epoch %d); the healed log holds %s there", seen.ID, off, seen.Epoch, now)})
}

func (c *Checker) finalProduce(p int, op Op, at map[string]replication.Offset) {
	for i, v := range op.Values {
		want := op.Offset + replication.Offset(i)
		got, ok := at[v]
		switch {
		case op.Result == Unknown || op.Result == Pending:
			if ok {
				c.Counts.UnknownSurvived++
			} else {
				c.Counts.UnknownLost++
			}
		case op.Result != OK:
		case ok && got == want:
		case ok:
			c.Violate(Violation{Invariant: InconsistentOffsets, Tick: op.Complete, Partition: p, Offset: want,
				Replicas: []replication.NodeID{op.Node},
				Detail: fmt.Sprintf("record %s acknowledged (acks=%s) at offset %d by %s in epoch %d is at offset %d of the healed log",
					v, op.Acks, want, op.Node, op.Epoch, got)})
		case op.Acks == AcksLeader:
			c.Counts.LostLeader++
			c.addLost(p, op, i, true)
		case op.Acks == AcksNone:
			c.Counts.LostNone++
			c.addLost(p, op, i, true)
		case c.Excused(p, want):
			c.Counts.Excused++
			c.addLost(p, op, i, true)
		default:
			c.addLost(p, op, i, false)
			c.Violate(Violation{Invariant: AckedLost, Tick: op.Complete, Partition: p, Offset: want,
				Replicas: []replication.NodeID{op.Node},
				Detail: fmt.Sprintf("record %s acknowledged (acks=quorum) at tick %d at offset %d by %s in epoch %d is not in the healed log",
					v, op.Complete, want, op.Node, op.Epoch)})
		}
	}
}
