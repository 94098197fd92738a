package replication

import (
	"errors"
	"fmt"
	"slices"
)

// Defaults for Options fields left zero.
const (
	DefaultHeartbeatTicks = 1
	DefaultElectionTicks  = 10
	DefaultMaxAppendBytes = 1 << 20
	DefaultMaxInflight    = 8
)

// Options start a Replica from what its log holds.
type Options struct {
	ID NodeID
	// Configs are the config entries in the log, oldest first; Bootstrap is the replica set
	// before the first of them (from placement, for a partition just created). A replica in
	// neither (a node the leader is adding) is a learner until a config entry names it.
	Configs   []ConfigAt
	Bootstrap Config
	Log       LogReader
	// The log as opened: start, end, durable end and epoch history; the promised epoch.
	LogStart, LogEnd, DurableEnd Offset
	History                      History
	PromisedEpoch                Epoch
	// RecordBootstrap: a leader whose log holds no config entry writes the bootstrap replica set
	// as one, so the log describes its own replica set from then on (the catalog partition,
	// whose first replica set exists nowhere else).
	RecordBootstrap bool
	// Unclean: the last shutdown was a crash under fsync interval or never (or the replica has
	// not caught up since one): start as a learner.
	Unclean bool
	// Ticks: a leader sends heartbeats every HeartbeatTicks; a follower that hears nothing for
	// ElectionTicks considers its leader failed, and so does a leader that hears nothing from a
	// majority. ElectionTicks must be well above HeartbeatTicks.
	HeartbeatTicks, ElectionTicks int
	// MaxAppendBytes bounds one append message; MaxInflight bounds unanswered appends per peer.
	MaxAppendBytes, MaxInflight int
	// Canary plants a known bug for the simulator's checkers (see Canary); empty in production.
	Canary Canary
}

// Errors of Step and New.
var (
	ErrWrongReplica = errors.New("replication: message for another replica")
	ErrBadOptions   = errors.New("replication: bad options")
)

func (o *Options) validate() error {
	o.HeartbeatTicks = cmp0(o.HeartbeatTicks, DefaultHeartbeatTicks)
	o.ElectionTicks = cmp0(o.ElectionTicks, DefaultElectionTicks)
	o.MaxAppendBytes = cmp0(o.MaxAppendBytes, DefaultMaxAppendBytes)
	o.MaxInflight = cmp0(o.MaxInflight, DefaultMaxInflight)
	switch {
	case o.ID == "":
		return fmt.Errorf("%w: ID is empty", ErrBadOptions)
	case o.Log == nil:
		return fmt.Errorf("%w: Log is nil", ErrBadOptions)
	case o.ElectionTicks <= 2*o.HeartbeatTicks:
		return fmt.Errorf("%w: ElectionTicks %d must exceed twice HeartbeatTicks %d", ErrBadOptions, o.ElectionTicks, o.HeartbeatTicks)
	case o.DurableEnd > o.LogEnd || o.LogStart > o.LogEnd:
		return fmt.Errorf("%w: log start %d, end %d, durable end %d", ErrBadOptions, o.LogStart, o.LogEnd, o.DurableEnd)
	}
	return o.Canary.validate()
}

func cmp0(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// logView is the core's picture of its own log, kept in step with the writes it hands out.
type logView struct {
	start, end Offset
	// Invariant: durable <= end, stable <= end.
	durable Offset
	// stable is the end of what the shell has written: the core reads its log only below it.
	stable Offset
	hist   History
}

// Replica is one replica of one partition: leader, candidate or follower (a learner is a
// follower that is not a voter, or an unclean one).
type Replica struct {
	id   NodeID
	opts Options
	log  logView
	// configs: config entries in the log, oldest first; bootstrap applies before them.
	configs   []ConfigAt
	bootstrap Config

	// epoch is the highest epoch promised (durably, through Ready.Promise); promisedTo is the
	// candidate it was promised to in this process's life ("" after a restart).
	epoch      Epoch
	promisedTo NodeID
	leader     NodeID
	role       Role
	step       func(*Replica, Message)
	tick       func(*Replica)
	// refusedAt is the highest epoch seen in a refusal of this replica's candidacy (not
	// durable): its next candidacy starts above it. A replica refused again and again (its log
	// behind a voter's newest config) takes a new epoch each time; another voter whose own
	// candidacies started below those epochs was refused by it for good
	// (stale-candidate-newer-config.txt).
	refusedAt Epoch
	// campaignHoldTicks: ticks before this replica may campaign again, set when a voter refused
	// it for a log behind that voter's newest config. Invariant: >= 0.
	campaignHoldTicks int

	// Invariant: commit <= log.end, and it never goes backwards.
	commit  Offset
	unclean bool
	alive   map[NodeID]bool // nil: everyone is alive
	// gone: nodes an operator removed for good (see SetGone).
	gone map[NodeID]bool

	electionElapsed   int // ticks since the leader was heard from (follower), or since the campaign began
	leaderlessElapsed int // ticks since the leader was considered failed
	heartbeatElapsed  int
	quorumElapsed     int
	ticks             int // ticks as leader, for how recently members answered

	// follower: end of the prefix known to equal the leader's log, and the last commit point the
	// leader told, and the durable end last reported.
	verified, leaderCommit, reported Offset
	// leaderEnd: the leader's log end as its last append said.
	leaderEnd Offset

	prs        map[NodeID]*progress // leader: one per other member of the replica set
	epochStart Offset               // leader: the log end when it began to lead
	gated      bool                 // leader: it wrote an epoch-start entry at epochStart
	desired    Config               // leader: the replica set placement wants
	transfer   *transfer            // leader: a leadership handover under way
	leaving    bool                 // its node is leaving: it no longer campaigns
	cand       *candidacy

	rd         Ready
	lastCommit Offset // commit point in the last Ready
}

// New starts a replica as a follower that does not know its leader.
func New(o Options) (*Replica, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Replica{
		id:        o.ID,
		opts:      o,
		log:       logView{start: o.LogStart, end: o.LogEnd, durable: o.DurableEnd, stable: o.LogEnd, hist: o.History.clone()},
		configs:   slices.Clone(o.Configs),
		bootstrap: o.Bootstrap.clone(),
		epoch:     max(o.PromisedEpoch, o.History.Last()),
		unclean:   o.Unclean,
	}
	r.becomeFollower(r.epoch, "")
	return r, nil
}

// ID returns the replica's node id.
func (r *Replica) ID() NodeID { return r.id }

// Config returns the replica set in force: the newest config entry in the log, or the bootstrap.
func (r *Replica) Config() Config {
	if n := len(r.configs); n > 0 {
		return r.configs[n-1].Config
	}
	return r.bootstrap
}

// Configs returns the config entries in the log, oldest first (the shell persists them).
func (r *Replica) Configs() []ConfigAt { return slices.Clone(r.configs) }

// Step feeds a message from a peer.
func (r *Replica) Step(m Message) error {
	if m.To != r.id {
		return fmt.Errorf("%w: to %s, this is %s", ErrWrongReplica, m.To, r.id)
	}
	switch m.Type {
	case MsgPromise:
		r.handlePromise(m)
	case MsgFetch:
		r.handleFetch(m)
	case MsgAppend:
		r.receiveAppend(m)
	case MsgTransfer:
		r.handleTransfer(m)
	default:
		r.step(r, m)
	}
	return nil
}

// Tick advances logical time by one tick.
func (r *Replica) Tick() { r.tick(r) }

// SetAlive gives the node's membership view: the nodes believed alive (this one always is).
func (r *Replica) SetAlive(ids []NodeID) {
	r.alive = make(map[NodeID]bool, len(ids)+1)
	for _, id := range ids {
		r.alive[id] = true
	}
	r.alive[r.id] = true
	if r.role == RoleFollower {
		r.maybeCampaign()
	}
}

func (r *Replica) isAlive(id NodeID) bool { return r.alive == nil || r.alive[id] }

// SetGone gives the nodes an operator removed for good (`shoal cluster remove`): their disks
// are gone with them. A candidate with no clean majority leads once every other voter and
// every learner promised (see maybeDecide), and a leader's quorum leaves them out once they
// are a majority (quorum); what only they held is lost either way, and without this a replica
// set whose surviving voters restarted unclean waited for a promise that never comes.
func (r *Replica) SetGone(ids []NodeID) {
	r.gone = make(map[NodeID]bool, len(ids))
	for _, id := range ids {
		if id != r.id {
			r.gone[id] = true
		}
	}
	if r.role == RoleCandidate {
		r.maybeDecide()
	}
}

// Durable reports that the log is durable up to end (per the fsync policy).
func (r *Replica) Durable(end Offset) {
	end = min(end, r.log.end)
	if end <= r.log.durable {
		return
	}
	r.log.durable = end
	switch r.role {
	case RoleLeader:
		r.maybeCommit()
	case RoleFollower:
		r.reportDurable()
	}
}

// HasReady reports whether Ready has anything to do or a new commit point.
func (r *Replica) HasReady() bool { return !r.rd.IsEmpty() || r.commit != r.lastCommit }

// Ready returns what to do and forgets it: the shell must do it all, in order, and then call
// Advance, before it next calls Step, Tick, SetAlive, Durable, Appended or SetDesired.
func (r *Replica) Ready() Ready {
	rd := r.rd
	rd.Commit = r.commit
	r.rd = Ready{}
	r.lastCommit = r.commit
	return rd
}

// Advance tells the core that the shell did the last Ready: the log writes are in the log, so
// a leader now replicates them (they land in the next Ready).
func (r *Replica) Advance() {
	r.log.stable = r.log.end
	if r.role == RoleLeader {
		r.broadcastAppend()
	}
}

func (r *Replica) send(m Message) {
	m.From = r.id
	if m.Epoch == 0 {
		m.Epoch = r.epoch
	}
	r.rd.Messages = append(r.rd.Messages, m)
}

func (r *Replica) promise(e Epoch, to NodeID) {
	if e < r.epoch {
		panic(fmt.Sprintf("replication: %s promising epoch %d below promised %d", r.id, e, r.epoch))
	}
	if e > r.epoch || r.rd.Promise != 0 {
		r.rd.Promise = e
	}
	r.epoch, r.promisedTo = e, to
}

// writeBatch hands out the append of one batch at the log end.
func (r *Replica) writeBatch(s span) {
	if s.base != r.log.end {
		panic(fmt.Sprintf("replication: %s appending a batch at %d, log end %d", r.id, s.base, r.log.end))
	}
	r.rd.Writes = append(r.rd.Writes, LogWrite{Batch: s.bytes})
	r.log.hist = r.log.hist.withBatch(s.epoch, s.base)
	r.log.end = s.end
	for _, c := range s.configs {
		r.configs = append(r.configs, ConfigAt{Offset: s.base, Config: c})
	}
}

// truncate hands out a truncation of the log to end.
func (r *Replica) truncate(end Offset) {
	if end < r.commit {
		panic(fmt.Sprintf("replication: %s truncating to %d below its commit point %d", r.id, end, r.commit))
	}
	r.rd.Writes = append(r.rd.Writes, LogWrite{Truncate: true, To: end})
	r.log.end = end
	r.log.durable = min(r.log.durable, end)
	r.log.stable = min(r.log.stable, end)
	r.log.hist = r.log.hist.truncated(end)
	for n := len(r.configs); n > 0 && r.configs[n-1].Offset >= end; n-- {
		r.configs = r.configs[:n-1]
	}
	r.verified = min(r.verified, end)
}

// appendControl writes a control entry of this leader at the log end.
func (r *Replica) appendControl(kind byte, value []byte) {
	b := controlBatch(kind, value, r.log.end, r.epoch)
	spans, err := splitBatches(b, r.log.end)
	if err != nil {
		panic(fmt.Sprintf("replication: own control entry: %v", err))
	}
	r.writeBatch(spans[0])
}

func (r *Replica) becomeFollower(e Epoch, leader NodeID) {
	r.role, r.step, r.tick = RoleFollower, stepFollower, tickFollower
	r.epoch, r.leader = max(r.epoch, e), leader
	r.prs, r.cand, r.transfer = nil, nil, nil
	r.electionElapsed, r.leaderlessElapsed = 0, 0
}

func majority(n int) int { return n/2 + 1 }

// quorum is how many of voters a leader needs (to commit, and to go on leading): a majority,
// but never more than the voters an operator has not removed for good (SetGone). Once the
// removed ones are a majority, every voter left is needed: the replica set lost a majority, so
// the design's promise is void, and this keeps all that the survivors hold (a majority of the
// survivors could lose what only one of them holds). Without it a replica set such as [n4 n2]
// with n2 removed could never commit the change that replaces n2. (A candidate gets no such
// discount on its clean majority: see maybeDecide.)
func (r *Replica) quorum(voters []NodeID) int {
	left := 0
	for _, v := range voters {
		if !r.gone[v] {
			left++
		}
	}
	return max(1, min(majority(len(voters)), left))
}
