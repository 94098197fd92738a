package replication

// transfer is a leadership handover under way: the leader waits until the target holds its whole
// log, then tells it to campaign; the target's promise requests carry the transfer flag, so the
// voters (the leader included) set their leases aside. The target catches up from the most
// advanced promiser like any candidate, so writes the leader took meanwhile are not lost.
type transfer struct {
	to      NodeID
	sent    bool
	elapsed int // ticks since it began; past ElectionTicks it is given up
}

// TransferLeadership asks the leader to hand its leadership to voter to. It reports false when
// it cannot (not the leader, to is not another voter, or a handover is under way).
func (r *Replica) TransferLeadership(to NodeID) bool {
	if r.role != RoleLeader || to == r.id || !r.Config().IsVoter(to) || r.transfer != nil || r.prs[to] == nil {
		return false
	}
	r.transfer = &transfer{to: to}
	r.maybeSendTransfer()
	return true
}

// maybeSendTransfer tells the target to campaign once it holds the leader's whole log.
func (r *Replica) maybeSendTransfer() {
	t := r.transfer
	if t == nil || t.sent {
		return
	}
	pr := r.prs[t.to]
	if pr == nil {
		r.transfer = nil
		return
	}
	if pr.match < r.log.end {
		r.sendAppend(t.to, pr)
		return
	}
	t.sent = true
	r.send(Message{Type: MsgTransfer, To: t.to})
}

// tickTransfer gives up a handover that took longer than an election timeout.
func (r *Replica) tickTransfer() {
	if t := r.transfer; t != nil {
		if t.elapsed++; t.elapsed >= r.opts.ElectionTicks {
			r.transfer = nil
		}
	}
}

// handleTransfer: the leader of this replica's epoch asks it to take over.
func (r *Replica) handleTransfer(m Message) {
	if r.leaving || r.role != RoleFollower || m.Epoch != r.epoch || m.From != r.leader || r.unclean || !r.Config().IsVoter(r.id) {
		return
	}
	r.campaign(true)
}

// maybeTransferToPreferred hands leadership to the first voter of the desired set (placement's
// preferred leader, which balances leaders over the nodes) when the replica set already is the
// desired one, that voter is alive, answered recently and holds the commit point; and away from
// this node when placement no longer wants it at all.
func (r *Replica) maybeTransferToPreferred() {
	if r.role != RoleLeader || r.transfer != nil || len(r.desired.Voters) == 0 {
		return
	}
	want := r.desired.Voters[0]
	cur := r.Config()
	if want == r.id || !cur.IsVoter(want) || !r.isAlive(want) {
		return
	}
	for _, v := range r.desired.Voters {
		if !cur.IsVoter(v) {
			return // moves first
		}
	}
	pr := r.prs[want]
	if pr == nil || pr.learner || pr.durable < r.commit || r.ticks-pr.heardTick >= r.opts.ElectionTicks {
		return
	}
	r.TransferLeadership(want)
}

// HandOver marks the replica as leaving (it no longer campaigns or takes a leadership handed to
// it) and transfers the leadership to the first voter, in config order, that answered within
// an election timeout and holds the commit point (a node leaving). It reports false when this
// replica does not lead or no voter qualifies.
func (r *Replica) HandOver() bool {
	r.leaving = true
	if r.role != RoleLeader {
		return false
	}
	if r.transfer != nil {
		return true
	}
	for _, v := range r.Config().Voters {
		pr := r.prs[v]
		if v == r.id || pr == nil || pr.learner || pr.durable < r.commit || r.ticks-pr.heardTick >= r.opts.ElectionTicks {
			continue
		}
		return r.TransferLeadership(v)
	}
	return false
}
