package replication

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/shoalmq/shoal/protocol/batch"
)

// progress is the leader's view of one other member of the replica set.
type progress struct {
	// match: end of the prefix known to equal the leader's log; durable: how much of it the
	// member holds durably. Invariant: durable <= match <= next.
	match, durable, next Offset
	// probing: one append at a time until the member answers (after a rejection or a silence);
	// otherwise appends are pipelined up to MaxInflight.
	probing bool
	// inflight: ends of appends sent and not yet answered, ascending.
	inflight []Offset
	// learner: the member said it is an unclean learner.
	learner bool
	// active: heard from since the last quorum check; acked: since the last heartbeat.
	active, acked bool
	// silentBeats counts the heartbeats in a row at which appends were in flight and the
	// member had made no progress. Invariant: silentBeats < lostAfterBeats.
	silentBeats int
	// heardTick is the replica's tick count when the member last answered.
	heardTick int
	// removedAt: the member was removed by the config entry ending here; it is still sent the
	// log until it holds that entry (0: a member).
	removedAt Offset
	// answered: the member answered an append of this leader. Until it does it gets empty
	// probes only: a node that does not host its replica yet (a learner just added, whose node
	// learns of the move a moment later) drops what it is sent, and the data would go twice.
	answered bool
}

// Appended tells the leader that the shell appended its own batches (client data, tombstones)
// in the leader's epoch up to end.
func (r *Replica) Appended(end Offset) {
	if r.role != RoleLeader || end < r.log.end {
		panic(fmt.Sprintf("replication: %s (%s) told of an append up to %d, log end %d", r.id, r.role, end, r.log.end))
	}
	if r.log.hist.Last() < r.epoch {
		r.log.hist = r.log.hist.withBatch(r.epoch, r.log.end) // the epoch's first entry
	}
	r.log.end, r.log.stable = end, end
	r.broadcastAppend()
}

// IsLeader reports whether the replica leads and may take writes.
func (r *Replica) IsLeader() bool { return r.role == RoleLeader }

func stepLeader(r *Replica, m Message) {
	if m.Type == MsgAppendResp {
		r.handleAppendResp(m)
	}
}

func (r *Replica) handleAppendResp(m Message) {
	pr := r.prs[m.From]
	switch {
	case m.Epoch > r.epoch:
		r.becomeFollower(r.epoch, "") // a newer epoch exists: step down and let it lead
		return
	case pr == nil || m.Epoch < r.epoch:
		return
	}
	pr.active, pr.heardTick, pr.answered = true, r.ticks, true
	// acked: the member made progress since the last heartbeat. An answer to a heartbeat at
	// the member's match is no progress: with appends in flight and none acknowledged for a
	// whole heartbeat, they were lost, and the next heartbeat probes (found by the simulator).
	if m.Reject || m.Match > pr.match {
		pr.acked = true
	}
	if m.Reject {
		if m.Index < pr.match {
			return // a late answer to an append the member has since matched
		}
		// The member's log may be shorter than it once acknowledged (an unclean restart lost
		// its tail): its match and durable end go back with it.
		pr.next = Divergence(r.log.hist, r.log.end, m.History, m.End)
		pr.match, pr.durable = min(pr.match, pr.next), min(pr.durable, pr.next)
		pr.probing, pr.inflight = true, nil
		r.sendAppend(m.From, pr)
		return
	}
	pr.match = max(pr.match, m.Match)
	pr.durable = max(pr.durable, min(m.Durable, pr.match))
	pr.learner = m.Learner
	for len(pr.inflight) > 0 && pr.inflight[0] <= m.Match {
		pr.inflight = pr.inflight[1:]
	}
	if pr.probing {
		pr.probing, pr.inflight, pr.next = false, nil, max(pr.match, m.Match)
	}
	r.maybeCommit()
	r.sendAppend(m.From, pr)
	r.maybeSendTransfer()
}

// sendAppend sends the member what it lacks, if its window allows.
func (r *Replica) sendAppend(to NodeID, pr *progress) {
	if len(pr.inflight) >= r.opts.MaxInflight || (pr.probing && len(pr.inflight) > 0) {
		return
	}
	if !pr.answered {
		r.send(Message{Type: MsgAppend, To: to, Index: pr.next, PrevEpoch: r.prevEpoch(pr.next), Commit: r.commit, End: r.log.end})
		pr.inflight = append(pr.inflight, pr.next)
		return
	}
	if pr.next >= r.log.stable {
		return
	}
	data, err := r.opts.Log.Read(pr.next, r.opts.MaxAppendBytes)
	if err != nil {
		return // the member is below the log start, or the log failed: heartbeats continue
	}
	spans, err := splitBatches(data, pr.next)
	if err != nil || len(spans) == 0 {
		panic(fmt.Sprintf("replication: %s read its own log at %d: %d bytes, %v", r.id, pr.next, len(data), err))
	}
	end := spans[len(spans)-1].end
	r.send(Message{Type: MsgAppend, To: to, Index: pr.next, PrevEpoch: r.prevEpoch(pr.next), Data: data, Commit: r.commit, End: r.log.end})
	pr.inflight = append(pr.inflight, end)
	pr.next = end
}

func (r *Replica) prevEpoch(index Offset) Epoch {
	if index == 0 {
		return 0
	}
	return r.log.hist.EpochAt(index - 1)
}

func (r *Replica) broadcastAppend() {
	for _, id := range r.others() {
		if pr := r.prs[id]; pr != nil {
			r.sendAppend(id, pr)
		}
	}
}

// lostAfterBeats: appends in flight to a member that made no progress for this many heartbeats
// in a row count as lost. One heartbeat was too few: a learner catching up (a window of 1 MiB
// appends, each written and fsynced on a disk other replicas share) often takes longer than a
// heartbeat per append, and the leader then resent the whole window (joins moved 1.3-2x the
// bytes they needed, an RF restore 4x).
const lostAfterBeats = 3

// heartbeat carries the commit point. A member that answered nothing for lostAfterBeats
// heartbeats while appends were in flight may have lost them: it is probed at its next offset
// with an empty append, which it accepts, or rejects with its end and history.
func (r *Replica) heartbeat(to NodeID, pr *progress) {
	switch {
	case pr.acked || len(pr.inflight) == 0:
		pr.silentBeats = 0
	case pr.silentBeats+1 < lostAfterBeats:
		// No progress for a heartbeat may be a slow member (a learner writing a window of
		// catch-up appends): resending now would send the window twice.
		pr.silentBeats++
	default:
		pr.silentBeats = 0
		pr.probing, pr.inflight = true, nil
	}
	pr.acked = false
	switch {
	case pr.probing && len(pr.inflight) == 0:
		r.send(Message{Type: MsgAppend, To: to, Index: pr.next, PrevEpoch: r.prevEpoch(pr.next), Commit: r.commit, End: r.log.end})
		pr.inflight = append(pr.inflight, pr.next)
	case len(pr.inflight) == 0 && pr.next < r.log.stable:
		r.sendAppend(to, pr)
	default:
		r.send(Message{Type: MsgAppend, To: to, Index: pr.match, PrevEpoch: r.prevEpoch(pr.match), Commit: r.commit, End: r.log.end})
	}
}

func tickLeader(r *Replica) {
	r.ticks++
	r.heartbeatElapsed++
	if r.heartbeatElapsed >= r.opts.HeartbeatTicks {
		r.heartbeatElapsed = 0
		for _, id := range r.others() {
			if pr := r.prs[id]; pr != nil {
				r.heartbeat(id, pr)
			}
		}
		r.syncProgress() // forget members told of their removal
	}
	r.quorumElapsed++
	if r.quorumElapsed >= r.opts.ElectionTicks {
		r.quorumElapsed = 0
		if !r.quorumActive() {
			r.becomeFollower(r.epoch, "") // cut off from a majority: let the others promote
			return
		}
	}
	r.tickTransfer()
	r.maybeReconfigure()
	r.maybeTransferToPreferred()
}

// quorumActive reports whether a quorum of voters (this one included) was heard from since the
// last check, and resets the marks.
func (r *Replica) quorumActive() bool {
	voters := r.Config().Voters
	n := 0
	for _, v := range voters {
		if v == r.id {
			n++
		} else if pr := r.prs[v]; pr != nil && pr.active && !r.gone[v] {
			n++
		}
	}
	for _, pr := range r.prs {
		pr.active = false
	}
	return n >= r.quorum(voters)
}

// maybeCommit moves the commit point to the largest end a quorum of voters holds durably, if
// that lies past this leader's epoch-start entry (when it wrote one). Unclean learners and
// voters removed for good count as holding nothing.
func (r *Replica) maybeCommit() {
	voters := r.Config().Voters
	durables := make([]Offset, 0, len(voters))
	for _, v := range voters {
		switch pr := r.prs[v]; {
		case v == r.id:
			durables = append(durables, r.log.durable)
		case r.gone[v]:
			durables = append(durables, 0) // what it held went with it
		case pr != nil && !pr.learner:
			durables = append(durables, pr.durable)
		default:
			durables = append(durables, 0)
		}
	}
	slices.SortFunc(durables, func(a, b Offset) int { return cmp.Compare(b, a) })
	q := r.quorum(voters)
	if len(durables) < q {
		return
	}
	// CanaryCommitOldEpoch plants the bug of Raft's figure 8: no epoch-start gate.
	gate := r.gated && r.opts.Canary != CanaryCommitOldEpoch
	if c := durables[q-1]; c > r.commit && (!gate || c > r.epochStart) {
		r.commit = c
	}
}

// syncProgress keeps one progress per other member of the replica set. A member the newest
// config entry removed keeps its progress until it holds that entry (or, once the entry
// committed, stops answering for an election timeout): a removed replica must learn that it
// was removed, or it would keep campaigning in its old replica set.
func (r *Replica) syncProgress() {
	members := r.Config().Members()
	for _, id := range members {
		if pr := r.prs[id]; id != r.id && (pr == nil || pr.removedAt != 0) {
			r.prs[id] = &progress{next: r.epochStart, probing: true, active: true, acked: true, heardTick: r.ticks}
		}
	}
	for id, pr := range r.prs {
		if slices.Contains(members, id) {
			continue
		}
		if pr.removedAt == 0 {
			pr.removedAt = r.log.end // the end of the config entry that removed it
		}
		gone := pr.removedAt <= r.commit && r.ticks-pr.heardTick >= r.opts.ElectionTicks
		if pr.match >= pr.removedAt || gone {
			delete(r.prs, id)
		}
	}
}

// others returns the members the leader replicates to: the replica set, then members being
// told of their removal, in a fixed order.
func (r *Replica) others() []NodeID {
	ids := r.Config().Members()
	var leaving []NodeID
	for id := range r.prs {
		if !slices.Contains(ids, id) {
			leaving = append(leaving, id)
		}
	}
	slices.Sort(leaving)
	return append(ids, leaving...)
}

// SetDesired gives a leader the replica set placement wants: voters in ring order, and learners
// that should receive the log without voting (the __meta partition goes to every node). The
// leader moves toward it one config entry at a time: add a missing member as a learner, promote
// a learner that holds the commit point to voter, then remove members placement no longer wants
// (never itself, never below the desired number of voters).
func (r *Replica) SetDesired(d Config) {
	r.desired = d.clone()
	if r.role == RoleLeader {
		r.maybeReconfigure()
	}
}

// maybeReconfigure proposes the next config entry toward the desired set, once the epoch-start
// entry and every earlier config entry committed.
func (r *Replica) maybeReconfigure() {
	if r.role != RoleLeader || len(r.desired.Voters) == 0 || r.gated && r.commit <= r.epochStart {
		return
	}
	if n := len(r.configs); n > 0 && r.configs[n-1].Offset >= r.commit {
		return
	}
	if next, ok := r.nextConfig(); ok {
		r.appendControl(batch.ControlConfig, EncodeConfig(next))
		r.syncProgress()
		r.broadcastAppend()
	}
}

func (r *Replica) nextConfig() (Config, bool) {
	cur, want := r.Config(), r.desired
	for _, d := range want.Members() {
		if !cur.Has(d) {
			return Config{Voters: cur.Voters, Learners: append(slices.Clone(cur.Learners), d)}, true
		}
	}
	for _, l := range cur.Learners {
		if pr := r.prs[l]; want.IsVoter(l) && pr != nil && !pr.learner && pr.durable >= r.commit {
			voters := r.inDesiredOrder(append(slices.Clone(cur.Voters), l))
			return Config{Voters: voters, Learners: without(cur.Learners, l)}, true
		}
	}
	for _, l := range cur.Learners {
		if !want.Has(l) {
			return Config{Voters: cur.Voters, Learners: without(cur.Learners, l)}, true
		}
	}
	if len(cur.Voters) > len(want.Voters) {
		for _, v := range cur.Voters {
			if v != r.id && !want.IsVoter(v) {
				return Config{Voters: without(cur.Voters, v), Learners: cur.Learners}, true
			}
		}
	}
	return Config{}, false
}

// inDesiredOrder sorts ids by their place in the desired set; others keep their order, last.
func (r *Replica) inDesiredOrder(ids []NodeID) []NodeID {
	rank := func(id NodeID) int {
		if i := slices.Index(r.desired.Voters, id); i >= 0 {
			return i
		}
		return len(r.desired.Voters)
	}
	slices.SortStableFunc(ids, func(a, b NodeID) int { return rank(a) - rank(b) })
	return ids
}

func without(ids []NodeID, id NodeID) []NodeID {
	return slices.DeleteFunc(slices.Clone(ids), func(x NodeID) bool { return x == id })
}
