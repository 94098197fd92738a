package replication

import "fmt"

// receiveAppend handles MsgAppend in every role: a stale epoch is refused, a newer one is
// followed (and promised), and two leaders in one epoch are a broken invariant.
func (r *Replica) receiveAppend(m Message) {
	switch {
	case m.Epoch < r.epoch:
		if r.acceptStale(m) {
			return
		}
		r.send(Message{Type: MsgAppendResp, To: m.From, Index: m.Index, Reject: true, End: r.log.end, History: r.log.hist.clone()})
		return
	case m.Epoch > r.epoch:
		r.promise(m.Epoch, m.From)
		r.becomeFollower(m.Epoch, m.From)
	case r.role == RoleLeader:
		panic(fmt.Sprintf("replication: %s leads epoch %d and got an append from %s in the same epoch", r.id, m.Epoch, m.From))
	case r.leader == "": // a candidate that lost this epoch, or a promiser meeting the winner

		r.becomeFollower(m.Epoch, m.From)
	case r.leader != m.From:
		panic(fmt.Sprintf("replication: %s follows %s in epoch %d and got an append from %s", r.id, r.leader, m.Epoch, m.From))
	}
	r.handleAppend(m)
}

// handleAppend checks an append from the current leader against the log, appends what is new
// (truncating a divergent suffix first) and answers.
func (r *Replica) handleAppend(m Message) {
	r.electionElapsed, r.leaderlessElapsed = 0, 0
	r.leaderCommit = max(r.leaderCommit, m.Commit)
	r.leaderEnd = m.End
	if m.Index > r.log.end || (m.Index > r.log.start && r.log.hist.EpochAt(m.Index-1) != m.PrevEpoch) {
		r.send(Message{Type: MsgAppendResp, To: m.From, Index: m.Index, Reject: true, End: r.log.end, History: r.log.hist.clone()})
		return
	}
	spans, err := splitBatches(m.Data, m.Index)
	if err != nil {
		// The leader's own stored bytes do not split: refuse them whole; it will resend.
		r.send(Message{Type: MsgAppendResp, To: m.From, Index: m.Index, Reject: true, End: r.log.end, History: r.log.hist.clone()})
		return
	}
	verified := m.Index
	for _, s := range spans {
		verified = s.end
		if s.end <= r.log.start {
			continue
		}
		if s.base < r.log.end {
			if r.log.hist.EpochAt(s.base) == s.epoch {
				continue // the same epoch at the same offset is the same batch
			}
			if r.opts.Canary == CanarySkipTruncation && s.end <= r.log.end {
				continue // the planted bug: a divergent batch taken as matching
			}
			r.truncate(s.base)
		}
		r.writeBatch(s)
	}
	r.verified = verified
	r.commit = max(r.commit, min(m.Commit, verified))
	r.maybeClean()
	durable := min(r.log.durable, verified)
	r.reported = durable
	r.send(Message{Type: MsgAppendResp, To: m.From, Index: m.Index, Match: verified, Durable: durable, Learner: r.unclean})
}

// reportDurable tells the leader that more of the verified prefix became durable.
func (r *Replica) reportDurable() {
	r.maybeClean()
	durable := min(r.log.durable, r.verified)
	if r.leader == "" || r.leader == r.id || durable <= r.reported {
		return
	}
	r.reported = durable
	r.send(Message{Type: MsgAppendResp, To: r.leader, Index: r.verified, Match: r.verified, Durable: durable, Learner: r.unclean})
}

// maybeClean ends an unclean replica's catch-up once it durably holds its leader's epoch-start
// entry, and so everything the leader held when its epoch began, and the leader's commit point
// as the leader reported it since: every committed entry; or once it durably holds its leader's
// whole log as the leader last reported it (a leader whose log was empty writes no epoch-start
// entry: without this an idle empty partition kept its unclean replicas unclean forever, found
// by the simulator). The commit point matters when the replica comes back to the epoch it
// crashed in: entries that epoch committed with this replica's lost acknowledgement lie after
// the epoch start (the cluster simulator's seed 34: a replica back in its leader's epoch counted
// as clean without an entry it had acknowledged, and with a voter of the same set that lacked
// it too elected a leader that overwrote a committed entry).
func (r *Replica) maybeClean() {
	if !r.unclean || r.leader == "" {
		return
	}
	held := min(r.log.durable, r.verified)
	start, ok := r.log.hist.StartOf(r.epoch)
	if ok && held > start && held >= r.leaderCommit || held >= r.leaderEnd && r.verified >= r.leaderEnd {
		r.unclean = false
	}
}

func stepFollower(r *Replica, m Message) {
	// Answers to a candidacy or a leadership this replica no longer has: nothing to do.
	_ = m
}

func tickFollower(r *Replica) {
	r.electionElapsed++
	r.campaignHoldTicks = max(0, r.campaignHoldTicks-1)
	if r.leaderFailed() {
		r.leaderlessElapsed++
	} else {
		r.leaderlessElapsed = 0
	}
	r.maybeCampaign()
}

// leaderFailed: the leader is unknown or dead in the membership view or silent for an election
// timeout. A replica that has never seen a leader waits one election timeout first, so that a
// restarted replica does not depose a healthy leader it has not heard from yet; a brand-new
// partition (nothing promised, empty log) and a replica set of one do not.
func (r *Replica) leaderFailed() bool {
	switch {
	case r.leader == "" && r.epoch == 0 && r.log.end == 0:
		return true
	case r.leader == "" && len(r.Config().Voters) == 1:
		return true // the only voter: nobody else can lead
	case r.leader == "" && r.promisedTo != "" && r.promisedTo != r.id:
		// Promised to a candidate not heard from since: it failed if it is dead or silent.
		return r.deadOrSilent(r.promisedTo)
	case r.leader == "":
		return r.electionElapsed >= r.opts.ElectionTicks
	}
	return r.deadOrSilent(r.leader)
}

// deadOrSilent: a leader (or candidate) failed when nothing came from it for an election
// timeout, or gossip says it is dead and nothing came for two heartbeats. Gossip alone is not
// enough: under full CPU load memberlist declares live nodes dead now and then, and a leader
// whose heartbeats still arrive must not be deposed for it (that was leader churn under load).
func (r *Replica) deadOrSilent(id NodeID) bool {
	return r.electionElapsed >= r.opts.ElectionTicks || (!r.isAlive(id) && r.electionElapsed >= 2*r.opts.HeartbeatTicks)
}

// maybeCampaign starts a candidacy when the leader failed and this replica's turn came: the
// first live voter (other than the failed leader) in config order at once, the next one after
// one election timeout more, and so on.
func (r *Replica) maybeCampaign() {
	if r.leaving || r.campaignHoldTicks > 0 || !r.Config().IsVoter(r.id) || !r.leaderFailed() {
		return
	}
	rank := 0
	for _, v := range r.Config().Voters {
		if v == r.id {
			break
		}
		if v != r.leader && r.isAlive(v) {
			rank++
		}
	}
	if r.leaderlessElapsed >= rank*r.opts.ElectionTicks {
		r.campaign(false)
	}
}

// leaseHeld: this replica hears from a live leader other than the asking candidate, so it
// refuses promises (a candidate with a wrong view must not depose a healthy leader).
func (r *Replica) leaseHeld(candidate NodeID, transfer bool) bool {
	if transfer {
		return false // the leader itself asked the candidate to take over
	}
	switch r.role {
	case RoleLeader:
		return true
	case RoleFollower:
		// A heartbeat shorter than the election timeout: followers whose timeouts fire a tick
		// apart (their tickers are not in step) do not refuse each other's candidacy.
		return r.leader != "" && r.leader != candidate && r.isAlive(r.leader) &&
			r.electionElapsed < r.opts.ElectionTicks-r.opts.HeartbeatTicks
	}
	return false
}

// handlePromise answers a candidate in every role. An unclean replica promises too (so that it
// refuses older epochs from then on) but says so: its log may lack entries it acknowledged.
//
// A replica promises whether or not its own newest config names it a voter: the candidate
// counts only the voters of its config, and a replica whose log stops before the entry that
// made it a voter (a learner promoted while it was cut off) is one of them. When such a replica
// refused, a replica set that needed its promise stayed leaderless for good (the cluster
// simulator's seeds 0, 12, 46 and 2), and no leader could tell it that it was a voter.
//
// What it checks instead is that the candidate's log reaches its own newest config entry
// (candidateReachesConfig): the candidate's majority is one of the candidate's config, and it
// overlaps every quorum that committed something only while that config is not behind a
// committed one. A committed config entry is held by a majority of the config before it (single
// member changes: that majority overlaps a majority of both), so a candidate whose config is
// behind meets, among any majority of its config, a replica that holds the newer entry, and that
// replica refuses it. Without this check a replica removed two changes ago, holding the entry
// that removed it, promised a stale candidate that its old set's majority then elected, and the
// candidate led without entries the current set had committed (a removed replica once refused
// for not being a voter, which hid that case; see removed-voter-candidate.txt and
// stale-candidate-newer-config.txt).
func (r *Replica) handlePromise(m Message) {
	reaches := r.candidateReachesConfig(m)
	grant := (m.Epoch > r.epoch || (m.Epoch == r.epoch && r.promisedTo == m.From)) &&
		reaches && !r.leaseHeld(m.From, m.Transfer)
	resp := Message{Type: MsgPromiseResp, To: m.From, Epoch: r.epoch, Granted: grant, End: r.log.end,
		LastEpoch: r.log.hist.Last(), History: r.log.hist.clone(), Learner: r.unclean, Behind: !reaches}
	if grant {
		r.promise(m.Epoch, m.From)
		r.becomeFollower(m.Epoch, "")
		resp.Epoch = m.Epoch
	}
	r.send(resp)
}

// candidateReachesConfig: the candidate's log (its last epoch and end, as Raft compares logs)
// is at least as far as this replica's newest config entry. A log whose last epoch is that
// entry's epoch and that goes past it holds it (one leader per epoch, logs that agree on an
// entry agree before it); a log with a later last epoch holds it when it was committed (a leader
// of a later epoch holds every entry committed before it). So a candidate that passes holds
// every committed config this replica knows, and one that fails may lack one: refused.
func (r *Replica) candidateReachesConfig(m Message) bool {
	n := len(r.configs)
	if n == 0 {
		return true // only the bootstrap config, which every log starts from
	}
	at := r.configs[n-1].Offset
	e := r.log.hist.EpochAt(at)
	return m.LastEpoch > e || m.LastEpoch == e && m.End > at
}

// handleFetch serves a candidate this replica promised: its log from m.Index.
func (r *Replica) handleFetch(m Message) {
	if m.Epoch != r.epoch || r.promisedTo != m.From || r.leader != "" || m.Index > r.log.stable {
		return
	}
	var data []byte
	if m.Index < r.log.stable {
		var err error
		if data, err = r.opts.Log.Read(m.Index, r.opts.MaxAppendBytes); err != nil {
			return
		}
	}
	r.send(Message{Type: MsgFetchResp, To: m.From, Index: m.Index, Data: data, End: r.log.stable})
}
