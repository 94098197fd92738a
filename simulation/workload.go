package simulation

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
)

// consumer reads one partition's committed records in offset order from whichever replica
// leads when it polls.
type consumer struct {
	name string
	part int
	pos  replication.Offset
}

// maxPollEntries bounds one poll (whole batches, so a poll may return a few more).
const maxPollEntries = 32

// workload runs one tick of the producers and consumers.
func (s *sim) workload() {
	for p := range s.cfg.Partitions {
		if s.rng.IntN(100) < s.faults.ProducePercent {
			s.produce(p)
		}
	}
	for _, c := range s.consumers {
		if s.rng.IntN(100) < s.faults.PollPercent {
			s.poll(c)
		}
	}
}

// leaders returns the replicas of partition p that believe they lead, on running nodes: a
// client may reach any of them (one may be stale).
func (s *sim) leaders(p int) []*replica {
	var out []*replica
	for _, nd := range s.nodes {
		if rp := nd.replicas[p]; nd.running() && rp.r != nil && rp.r.IsLeader() {
			out = append(out, rp)
		}
	}
	return out
}

// produce is one producer request: a batch of 1..3 unique values with a drawn acks level, sent
// to a replica that leads; with none, it fails at once.
func (s *sim) produce(p int) int {
	return s.produceAcks(p, s.drawAcks())
}

func (s *sim) produceAcks(p int, acks check.Acks) int {
	n := 1 + s.rng.IntN(3)
	id := s.hist.Invoke(check.Op{Kind: check.Produce, Partition: p, Acks: acks, Invoke: s.now})
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("p%d.%d.%d", p, id, i)
	}
	s.hist.Ops[id].Values = values
	s.trace.add(0xD0, uint64(p), uint64(id), uint64(acks), uint64(n))
	leaders := s.leaders(p)
	if len(leaders) == 0 {
		s.complete(id, check.Failed)
		return id
	}
	rp := leaders[s.rng.IntN(len(leaders))]
	s.trace.add(uint64(rp.node.index))
	rp.produce(id, values, acks)
	return id
}

// probe is the liveness phase's workload once the healed cluster converged idle: one
// acks=quorum write per partition, repeated until one is acknowledged. A healed cluster must
// take it (availability) and converge again.
func (s *sim) probe() {
	for p := range s.cfg.Partitions {
		if id := s.probes[p]; id >= 0 && s.hist.Ops[id].Result != check.Failed && s.hist.Ops[id].Result != check.Unknown {
			continue
		}
		if leaders := s.leaders(p); len(leaders) == 1 && ableLeader(leaders[0].r) {
			s.probes[p] = s.produceAcks(p, check.AcksQuorum)
		}
	}
}

// probedAll reports whether every partition's probe write was acknowledged.
func (s *sim) probedAll() bool {
	for _, id := range s.probes {
		if id < 0 || s.hist.Ops[id].Result != check.OK {
			return false
		}
	}
	return true
}

func (s *sim) drawAcks() check.Acks {
	w := s.faults.AcksWeights
	k := s.rng.IntN(w[0] + w[1] + w[2])
	switch {
	case k < w[0]:
		return check.AcksQuorum
	case k < w[0]+w[1]:
		return check.AcksLeader
	}
	return check.AcksNone
}

// poll is one consumer fetch at a replica that leads: the committed entries from its position.
func (s *sim) poll(c *consumer) {
	leaders := s.leaders(c.part)
	if len(leaders) == 0 {
		return
	}
	rp := leaders[s.rng.IntN(len(leaders))]
	entries := rp.read(c.pos, maxPollEntries)
	s.trace.add(0xD1, uint64(c.part), uint64(rp.node.index), uint64(c.pos), uint64(len(entries)))
	if len(entries) == 0 {
		return
	}
	id := s.hist.Invoke(check.Op{Kind: check.Poll, Partition: c.part, Node: rp.node.id, Offset: c.pos,
		Count: len(entries), Invoke: s.now})
	s.hist.Complete(id, s.now, check.OK)
	s.chk.Poll(s.now, c.part, c.name, rp.node.id, c.pos, entries)
	c.pos = entries[len(entries)-1].Offset + 1
}

// complete ends an operation.
func (s *sim) complete(id int, r check.Result) {
	s.trace.add(0xD2, uint64(id), uint64(r))
	s.hist.Complete(id, s.now, r)
}
