package simulation

import (
	"bytes"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
)

// Failover is the leaderless time of one partition after its leader failed: from the fault
// to the first tick a replica leads a newer epoch and can commit (its epoch-start entry is
// committed). Ticks is -1 while it has not happened (or never did).
type Failover struct {
	Partition int                `json:"partition"`
	Node      replication.NodeID `json:"node"`
	Cause     Class              `json:"cause"`
	Start     int64              `json:"start"`
	Epoch     replication.Epoch  `json:"epoch"`
	Ticks     int64              `json:"ticks"`
}

// openFailovers starts a measurement for every partition nd leads, as nd fails.
func (s *sim) openFailovers(nd *node, cause Class) {
	for _, rp := range nd.replicas {
		if rp.leading && rp.r != nil {
			s.openFailover(rp, cause)
		}
	}
}

func (s *sim) openFailover(rp *replica, cause Class) {
	s.failovers = append(s.failovers, &Failover{Partition: rp.part, Node: rp.node.id, Cause: cause,
		Start: s.now, Epoch: rp.epoch, Ticks: -1})
}

// measureFailovers closes the measurements whose partition has an able leader again.
func (s *sim) measureFailovers() {
	for _, f := range s.failovers {
		if f.Ticks >= 0 {
			continue
		}
		for _, nd := range s.nodes {
			rp := nd.replicas[f.Partition]
			if nd.running() && rp.r != nil && rp.r.IsLeader() && rp.r.Epoch() > f.Epoch && ableLeader(rp.r) {
				f.Ticks = s.now - f.Start
				break
			}
		}
	}
}

// ableLeader: a leader whose epoch-start entry committed (or that wrote none), so it can
// commit new records.
func ableLeader(r *replication.Replica) bool {
	start, ok := r.History().StartOf(r.Epoch())
	return !ok || r.Commit() > start
}

// convergedAll reports whether every partition converged: every node runs its replica, one
// leads, the others follow it in its epoch, clean, with its commit point, which is its log end
// (everything it holds is committed), and every replica's log is byte-identical to the
// leader's below it. With whole, every log must equal the leader's entirely: a follower may
// keep an uncommitted divergent suffix while an idle leader writes nothing (a leader whose log
// was empty writes no epoch-start entry), and the probe writes make it go.
func (s *sim) convergedAll(whole bool) bool {
	for p := range s.cfg.Partitions {
		if s.convergedLeader(p, whole) == nil {
			return false
		}
	}
	return true
}

func (s *sim) convergedLeader(p int, whole bool) *replica {
	var leader *replica
	for _, nd := range s.nodes {
		rp := nd.replicas[p]
		if !nd.running() || rp.r == nil {
			return nil
		}
		if rp.r.IsLeader() {
			if leader != nil {
				return nil
			}
			leader = rp
		}
	}
	if leader == nil {
		return nil
	}
	e, c := leader.r.Epoch(), leader.r.Commit()
	if c != leader.log.End() || !ableLeader(leader.r) {
		return nil
	}
	for _, nd := range s.nodes {
		rp := nd.replicas[p]
		if rp == leader {
			continue
		}
		if rp.r.Leader() != leader.node.id || rp.r.Epoch() != e || rp.r.Unclean() || rp.r.Commit() != c ||
			rp.log.End() < c || whole && rp.log.End() != c || rp.log.Len() < leader.log.Len() {
			return nil
		}
		for i := range leader.log.Len() {
			a, _ := rp.log.Batch(i)
			b, _ := leader.log.Batch(i)
			if !bytes.Equal(a, b) {
				return nil
			}
		}
	}
	return leader
}

// finalChecks runs after convergence: a fresh consumer reads each partition from offset 0 at
// its leader, and the checker compares the healed log with the history.
func (s *sim) finalChecks() {
	for i := range s.hist.Ops {
		if s.hist.Ops[i].Result == check.Pending {
			s.complete(i, check.Unknown)
		}
	}
	for p := range s.cfg.Partitions {
		leader := s.convergedLeader(p, true)
		var log []check.Entry
		for i := range leader.log.Len() {
			b, _ := leader.log.Batch(i)
			log = append(log, check.Entries(b)...)
		}
		read := leader.read(0, len(log)+1)
		s.chk.Poll(s.now, p, "final", leader.node.id, 0, read)
		if len(read) != len(log) {
			s.chk.Violate(check.Violation{Invariant: check.Liveness, Tick: s.now, Partition: p,
				Replicas: []replication.NodeID{leader.node.id}, Detail: "the healed leader does not serve its whole committed log"})
		}
		s.chk.Final(p, log, &s.hist)
	}
}
