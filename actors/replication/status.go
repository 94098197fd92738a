package replication

import "slices"

// Status is a snapshot of a replica for metadata, metrics and tests.
type Status struct {
	ID       NodeID
	Role     Role
	Epoch    Epoch
	Leader   NodeID
	Commit   Offset
	LogEnd   Offset
	Durable  Offset
	Config   Config
	Unclean  bool
	Progress map[NodeID]PeerStatus // leader only
}

// PeerStatus is the leader's view of one other member.
type PeerStatus struct {
	Match, Durable Offset
	Learner        bool
	// Active: the member answered within the last election timeout.
	Active bool
}

// InSync returns the members (the leader included) that hold the log up to the commit point
// durably and answered within the last election timeout, in config order.
func (s Status) InSync() []NodeID {
	if s.Role != RoleLeader {
		return nil
	}
	var out []NodeID
	for _, id := range s.Config.Members() {
		if id == s.ID {
			out = append(out, id)
		} else if p, ok := s.Progress[id]; ok && !p.Learner && p.Active && p.Durable >= s.Commit {
			out = append(out, id)
		}
	}
	return out
}

// Status returns a snapshot.
func (r *Replica) Status() Status {
	s := Status{ID: r.id, Role: r.role, Epoch: r.epoch, Leader: r.leader, Commit: r.commit,
		LogEnd: r.log.end, Durable: r.log.durable, Config: r.Config().clone(), Unclean: r.unclean}
	if r.role == RoleLeader {
		s.Progress = make(map[NodeID]PeerStatus, len(r.prs))
		for id, pr := range r.prs {
			s.Progress[id] = PeerStatus{Match: pr.match, Durable: pr.durable, Learner: pr.learner,
				Active: r.ticks-pr.heardTick < r.opts.ElectionTicks}
		}
	}
	return s
}

// History returns the epoch history of the log as the core sees it.
func (r *Replica) History() History { return slices.Clone(r.log.hist) }

// Epoch returns the highest epoch promised: the epoch of the leader this replica follows or is.
func (r *Replica) Epoch() Epoch { return r.epoch }

// Leader returns the leader this replica knows of ("" for none).
func (r *Replica) Leader() NodeID { return r.leader }

// Role returns the replica's role.
func (r *Replica) Role() Role { return r.role }

// Unclean reports whether the replica is an unclean learner still catching up.
func (r *Replica) Unclean() bool { return r.unclean }

// Commit returns the commit point.
func (r *Replica) Commit() Offset { return r.commit }

// LeaderCommitted reports whether this replica leads and its commit point has reached the log
// end it began to lead with: everything an earlier leader committed is committed here too, so a
// read of its committed log misses nothing committed (Raft's rule before a new leader serves
// reads). Until then a new leader's commit point may lag what its predecessor committed.
func (r *Replica) LeaderCommitted() bool { return r.role == RoleLeader && r.commit >= r.epochStart }

// DurableOn returns the voters that hold the log durably up to end, this one included, in
// config order (a leader answers producers with it).
func (r *Replica) DurableOn(end Offset) []NodeID {
	var out []NodeID
	for _, v := range r.Config().Voters {
		switch pr := r.prs[v]; {
		case v == r.id && r.log.durable >= end:
			out = append(out, v)
		case pr != nil && !pr.learner && pr.durable >= end:
			out = append(out, v)
		}
	}
	return out
}

// removedIdleElections: a replica whose replica set no longer names it, and that no leader has sent
// anything for this many election timeouts, has been removed (a learner still catching up
// replays old config entries without itself, but keeps receiving appends).
const removedIdleElections = 10

// Removed reports whether this replica was removed from its partition's replica set and has
// heard nothing since: its node may drop it and its data.
func (r *Replica) Removed() bool {
	c := r.Config()
	return len(c.Voters) > 0 && !c.Has(r.id) && r.role == RoleFollower &&
		r.electionElapsed >= removedIdleElections*r.opts.ElectionTicks
}
