package check

import (
	"fmt"
	"math/bits"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Consumer-group invariants (the cluster tier's group consumers). A group's state lives in its
// partition's log, and a group command answers once its entry commits, so what a consumer was
// told must survive every fault that leaves a majority (under fsync=interval, a crash of a
// majority of the partition's replicas excuses them, as it excuses lost records).
//
//   - group-redelivered: the group delivered an entry as new twice (its last-delivered id went
//     back), or delivered an entry again after an XACK of it completed, or the entry is pending
//     again after healing (an acknowledgement was lost).
//   - group-lost: after healing, an entry at or below the group's last-delivered id is neither
//     pending nor was it ever acknowledged (the group passed it, or lost its pending entry), or
//     a delivered entry lies past that id.

// groupPartition is what the consumers of one partition's group were told.
type groupPartition struct {
	newAt     map[string]int64 // stream id → tick it was first delivered as new
	ackedAt   map[string]int64 // stream id → tick an XACK naming it completed
	ackTried  map[string]bool  // stream ids named by any XACK, whatever its result
	delivered map[string]int64 // stream id → tick of a delivery (any kind)
}

func (c *Checker) group(p int) *groupPartition {
	pt := c.parts[p]
	if pt.group == nil {
		pt.group = &groupPartition{newAt: map[string]int64{}, ackedAt: map[string]int64{}, ackTried: map[string]bool{},
			delivered: map[string]int64{}}
	}
	return pt.group
}

// majorityCrashed reports whether, under fsync=interval, a majority of partition p's replicas
// dropped some offset in crashes: its group state may have lost committed changes.
func (c *Checker) majorityCrashed(p int) bool {
	if !c.excuseCrash {
		return false
	}
	q := c.quorum
	if q == 0 {
		q = len(c.nodes)/2 + 1
	}
	for _, by := range c.parts[p].lostBy {
		if bits.OnesCount64(by) >= q {
			return true
		}
	}
	return false
}

func (c *Checker) groupViolate(v Violation) {
	if c.majorityCrashed(v.Partition) {
		c.Counts.GroupExcused++
		return
	}
	c.Violate(v)
}

// GroupRead records a successful delivery to consumer of partition p's group: the stream ids
// of an XREADGROUP reply (isNew: read with ">") or of an XAUTOCLAIM, invoked at invoke.
func (c *Checker) GroupRead(invoke, tick int64, p int, consumer string, isNew bool, ids []string) {
	g := c.group(p)
	for _, id := range ids {
		c.Counts.GroupDelivered++
		if at, ok := g.ackedAt[id]; ok && at < invoke {
			c.groupViolate(Violation{Invariant: GroupRedelivered, Tick: tick, Partition: p,
				Detail: fmt.Sprintf("entry %s delivered to %s at tick %d after an XACK of it completed at tick %d", id, consumer, tick, at)})
		}
		if isNew {
			if at, ok := g.newAt[id]; ok {
				c.groupViolate(Violation{Invariant: GroupRedelivered, Tick: tick, Partition: p,
					Detail: fmt.Sprintf("entry %s delivered as new to %s at tick %d, and as new before at tick %d", id, consumer, tick, at)})
			} else {
				g.newAt[id] = tick
			}
		}
		g.delivered[id] = tick
	}
}

// GroupAckInvoked records that an XACK of ids on partition p's group was sent.
func (c *Checker) GroupAckInvoked(p int, ids []string) {
	g := c.group(p)
	for _, id := range ids {
		g.ackTried[id] = true
	}
}

// GroupAcked records that an XACK of ids on partition p's group completed.
func (c *Checker) GroupAcked(tick int64, p int, ids []string) {
	g := c.group(p)
	for _, id := range ids {
		if _, ok := g.ackedAt[id]; !ok {
			g.ackedAt[id] = tick
		}
	}
}

// GroupFinal checks partition p's group after healing: last is its last-delivered id, pending
// its pending entries' ids, and log the stream ids of the healed log's records in order.
func (c *Checker) GroupFinal(tick int64, p int, last string, pending map[string]bool, log []string) {
	g := c.group(p)
	lastID, err := batch.ParseID(last, 0)
	if err != nil {
		c.Violate(Violation{Invariant: GroupLost, Tick: tick, Partition: p, Detail: fmt.Sprintf("the group's last-delivered id %q does not parse: %v", last, err)})
		return
	}
	for _, id := range log {
		sid, err := batch.ParseID(id, 0)
		if err != nil || lastID.Less(sid) {
			continue
		}
		if !pending[id] && !g.ackTried[id] {
			c.groupViolate(Violation{Invariant: GroupLost, Tick: tick, Partition: p,
				Detail: fmt.Sprintf("entry %s is at or below the group's last-delivered id %s, but it is not pending and no consumer acknowledged it", id, last)})
		}
	}
	for id, at := range g.delivered {
		if sid, err := batch.ParseID(id, 0); err == nil && lastID.Less(sid) {
			c.groupViolate(Violation{Invariant: GroupLost, Tick: tick, Partition: p,
				Detail: fmt.Sprintf("entry %s was delivered at tick %d, past the group's last-delivered id %s after healing", id, at, last)})
		}
	}
	for id := range pending {
		if at, ok := g.ackedAt[id]; ok {
			c.groupViolate(Violation{Invariant: GroupRedelivered, Tick: tick, Partition: p,
				Detail: fmt.Sprintf("entry %s is pending after healing, though an XACK of it completed at tick %d", id, at)})
		}
	}
}
