package replication

import (
	"slices"

	"github.com/shoalmq/shoal/protocol/batch"
)

// promiseFrom is one granted promise: the promiser's log.
type promiseFrom struct {
	id        NodeID
	unclean   bool
	lastEpoch Epoch
	end       Offset
	hist      History
}

// candidacy is a candidate's state: promises collected, then the catch-up from the most
// advanced promiser (source) up to its end (target).
type candidacy struct {
	transfer bool // its leader asked it to take over
	// behind: a voter refused it for a log that does not reach that voter's newest config.
	behind   bool
	promises map[NodeID]promiseFrom
	decided  bool
	source   NodeID
	target   Offset
}

// campaign takes a new epoch, promises it to itself and asks the other voters (transfer: its
// leader asked it to take over).
func (r *Replica) campaign(transfer bool) {
	e := max(r.epoch, r.log.hist.Last(), r.refusedAt) + 1
	r.promise(e, r.id)
	r.becomeFollower(e, "")
	r.role, r.step, r.tick = RoleCandidate, stepCandidate, tickCandidate
	r.cand = &candidacy{transfer: transfer, promises: map[NodeID]promiseFrom{
		r.id: {id: r.id, unclean: r.unclean, lastEpoch: r.log.hist.Last(), end: r.log.end, hist: r.log.hist.clone()},
	}}
	for _, v := range r.asked() {
		if v != r.id {
			r.send(Message{Type: MsgPromise, To: v, End: r.log.end, LastEpoch: r.log.hist.Last(), Transfer: transfer})
		}
	}
	r.maybeDecide()
}

// asked returns the members a candidate asks for promises: the voters, and the learners too
// when an operator removed voters for good (see maybeDecide).
func (r *Replica) asked() []NodeID {
	cfg := r.Config()
	if !r.votersGone(cfg.Voters) {
		return cfg.Voters
	}
	return append(slices.Clone(cfg.Voters), cfg.Learners...)
}

// votersGone reports whether an operator removed some of voters for good (SetGone).
func (r *Replica) votersGone(voters []NodeID) bool {
	for _, v := range voters {
		if r.gone[v] {
			return true
		}
	}
	return false
}

func stepCandidate(r *Replica, m Message) {
	switch m.Type {
	case MsgPromiseResp:
		r.handlePromiseResp(m)
	case MsgFetchResp:
		r.handleFetchResp(m)
	}
}

func (r *Replica) handlePromiseResp(m Message) {
	switch {
	case !m.Granted && m.Behind:
		// Its replica set is not the newest: a voter holds a config entry its log lacks. It may
		// still win (that entry may never commit), so it goes on; if it loses it steps aside
		// (abortCandidacy).
		r.cand.behind = true
		r.refusedAt = max(r.refusedAt, m.Epoch)
		if m.Epoch > r.epoch {
			r.abortCandidacy()
		}
	case !m.Granted && m.Epoch > r.epoch:
		r.refusedAt = max(r.refusedAt, m.Epoch)
		r.abortCandidacy()
	case m.Granted && m.Epoch == r.epoch && slices.Contains(r.asked(), m.From):
		r.cand.promises[m.From] = promiseFrom{id: m.From, unclean: m.Learner, lastEpoch: m.LastEpoch, end: m.End, hist: m.History}
		r.maybeDecide()
	}
}

// maybeDecide: with promises from a majority of clean voters, catch up from the most advanced
// of them (by last epoch, then end), or lead at once when that is this replica. Unclean promises
// do not count toward the majority: their logs may lack entries they acknowledged. When every
// voter promised and still no clean majority exists (a crash of most replicas under fsync
// interval or never), the most advanced of all leads: nothing any replica still holds is lost.
//
// "Every voter" leaves out the voters an operator removed for good (SetGone), and then takes in
// the learners: a candidate whose replica set is stale must not decide alone. [n3 n6] became
// [n3 n6 n4] (n4 a learner, then a voter) while n3 was cut off; n6 and n4 committed more; n6
// was removed for good: without the learner's promise, n3 would have led on its own and
// overwritten what n4 holds. n4 refuses it (n3's log does not reach n4's newest config).
func (r *Replica) maybeDecide() {
	c := r.cand
	voters := r.Config().Voters
	clean := 0
	for id, p := range c.promises {
		if !p.unclean && slices.Contains(voters, id) {
			clean++
		}
	}
	need := majority(len(voters))
	if r.opts.Canary == CanaryPromoteWithoutMajority {
		need = max(1, need-1) // the planted bug: one promise short of a majority
	}
	onlyClean := clean >= need
	if c.decided || !onlyClean && !r.everyAskedPromised() {
		return
	}
	c.decided = true
	var best promiseFrom
	found := false
	for _, v := range r.asked() { // config order: ties go to the earlier voter
		p, ok := c.promises[v]
		if ok && (!onlyClean || !p.unclean) && (!found || more(p.lastEpoch, p.end, best.lastEpoch, best.end)) {
			best, found = p, true
		}
	}
	if best.id == r.id {
		r.becomeLeader()
		return
	}
	if d := Divergence(r.log.hist, r.log.end, best.hist, best.end); d < r.log.end {
		r.truncate(d)
	}
	c.source, c.target = best.id, best.end
	r.send(Message{Type: MsgFetch, To: best.id, Index: r.log.end})
}

// handleFetchResp appends the source's batches and asks for more until it has the source's end.
func (r *Replica) handleFetchResp(m Message) {
	c := r.cand
	if !c.decided || m.From != c.source || m.Epoch != r.epoch || m.Index != r.log.end {
		return
	}
	spans, err := splitBatches(m.Data, m.Index)
	if err != nil || len(spans) == 0 && r.log.end < c.target {
		r.abortCandidacy()
		return
	}
	for _, s := range spans {
		r.writeBatch(s)
	}
	if r.log.end >= c.target {
		if !r.Config().IsVoter(r.id) {
			// The log it caught up with holds a config entry that removed this replica (sent by
			// a leader that lost its leadership before this replica had it; the next leader's
			// replica set did not name it, so nobody told it). A leader outside its own voters
			// could never finish a change (it cannot promote itself): give the epoch up, and
			// let a voter lead. It no longer campaigns, and its node drops it once idle.
			r.abortCandidacy()
			return
		}
		r.becomeLeader()
		return
	}
	r.send(Message{Type: MsgFetch, To: c.source, Index: r.log.end})
}

func tickCandidate(r *Replica) {
	r.electionElapsed++
	if r.electionElapsed >= r.opts.ElectionTicks {
		r.abortCandidacy()
		return
	}
	// Ask again every heartbeat the voters that have not promised (a request may be lost, or
	// a voter may have refused while it still heard from the old leader).
	if c := r.cand; !c.decided && r.electionElapsed%r.opts.HeartbeatTicks == 0 {
		for _, v := range r.asked() {
			if _, ok := c.promises[v]; !ok && v != r.id {
				r.send(Message{Type: MsgPromise, To: v, End: r.log.end, LastEpoch: r.log.hist.Last(), Transfer: c.transfer})
			}
		}
	}
}

// abortCandidacy gives up this epoch; the replica waits one more election timeout before it
// tries again, so two candidates do not keep deposing each other.
//
// A candidate a voter refused as behind (its replica set is not the newest) steps aside for two
// rounds of every voter's turn: a stale candidate that kept taking the next epoch first kept the
// voters of the newest set from promising each other (stale-candidate-newer-config.txt).
func (r *Replica) abortCandidacy() {
	behind := r.cand != nil && r.cand.behind
	r.becomeFollower(r.epoch, "")
	r.leaderlessElapsed = -r.opts.ElectionTicks
	if behind {
		r.campaignHoldTicks = len(r.Config().Voters) * 2 * r.opts.ElectionTicks
	}
}

// becomeLeader writes the epoch-start entry and starts replicating from the end before it.
// Two leaders need no such entry, because no older entry waits on it to commit: one whose log is
// empty (a new partition: its first data batch is of its epoch) and one that is the only voter
// (its durable log is committed). Offsets stay dense from 0 for new and standalone partitions.
func (r *Replica) becomeLeader() {
	var promisers []NodeID
	if r.cand != nil {
		for id := range r.cand.promises {
			promisers = append(promisers, id)
		}
		slices.Sort(promisers)
	}
	r.becomeFollower(r.epoch, r.id)
	r.role, r.step, r.tick = RoleLeader, stepLeader, tickLeader
	r.unclean = false // its log is the partition's log from now on
	r.epochStart = r.log.end
	voters := r.Config().Voters
	r.gated = r.log.end > 0 && !(len(voters) == 1 && voters[0] == r.id)
	if r.gated {
		r.appendControl(batch.ControlEpochStart, []byte(r.id))
	}
	if r.opts.RecordBootstrap && len(r.configs) == 0 {
		r.appendControl(batch.ControlConfig, EncodeConfig(r.bootstrap))
	}
	r.prs = make(map[NodeID]*progress)
	r.syncProgress()
	// A promiser the replica set no longer names was removed by a config entry it does not hold
	// yet (its leader lost the leadership before it could tell it): it is sent the log until it
	// holds that entry, as the leader that removed it would have, or it would go on counting
	// itself a voter and campaigning.
	for _, id := range promisers {
		if id != r.id && !r.Config().Has(id) {
			r.prs[id] = &progress{next: r.epochStart, probing: true, active: true, acked: true, heardTick: r.ticks, removedAt: r.log.end}
		}
	}
	r.broadcastAppend()
	r.maybeCommit()
}

// everyAskedPromised reports whether every voter promised, but the ones removed for good, and
// every learner when some were (see maybeDecide).
func (r *Replica) everyAskedPromised() bool {
	for _, v := range r.asked() {
		if _, ok := r.cand.promises[v]; !ok && !r.gone[v] {
			return false
		}
	}
	return true
}
