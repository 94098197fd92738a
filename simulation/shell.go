package simulation

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/simdisk"
)

// replica is the shell around one core, as actors/partition is around the real one: it does
// each Ready in order (log writes, the promise, the messages, the commit point), reports
// durability per the fsync policy, answers producers, and tells the checker what became
// committed. It stops on a crash, a failed fsync or a refused write, and restarts from its
// disk.
type replica struct {
	sim  *sim
	node *node
	part int
	log  *simdisk.Log
	r    *replication.Replica // nil while stopped

	crashed   bool  // stopped uncleanly at least once: the next start recovers from a crash
	restartAt int64 // a replica stopped alone (disk error) restarts then
	// durable is the durable end told to the core; commit the commit point published.
	durable, commit replication.Offset
	syncAt          int64 // fsync=always: the tick the unsynced tail is synced at (-1: none)
	pendingLeader   []pendingAck
	pendingQuorum   []pendingAck
	// checkedIdx: the batches below the commit point already given to the checker.
	checkedIdx int
	leading    bool
	epoch      replication.Epoch
	// crashDrawnEpoch: the leadership whose commit-crash coin was drawn (one per leadership).
	crashDrawnEpoch replication.Epoch
}

type pendingAck struct {
	op  int
	end replication.Offset
}

func newLog() *simdisk.Log { return &simdisk.Log{} }

// core runs f, a call into the core under test, marking it so that a panic is reported as the
// core's own assertion.
func (rp *replica) core(f func()) {
	s := rp.sim
	s.inCore, s.corePart, s.coreNode = true, rp.part, rp.node.id
	f()
	s.inCore = false
}

// restart opens the replica from its disk, as replicaOptions does: unclean after a crash under
// fsync=interval, or while the unclean marker is on disk.
func (rp *replica) restart() {
	s := rp.sim
	if rp.node.down {
		return // the node crashed again while it was starting its replicas
	}
	unclean := rp.log.Unclean || rp.crashed && s.faults.Fsync == FsyncInterval
	end := rp.log.End()
	opts := replication.Options{
		ID: rp.node.id, Bootstrap: replication.Config{Voters: s.voters(rp.part)}, Configs: rp.log.Configs(),
		Log: rp.log, LogEnd: end, DurableEnd: end, History: rp.log.History(), PromisedEpoch: rp.log.Promised,
		Unclean: unclean, HeartbeatTicks: HeartbeatTicks, ElectionTicks: ElectionTicks,
		MaxAppendBytes: s.faults.MaxAppendBytes, Canary: s.canary.core,
	}
	r, err := replication.New(opts)
	if err != nil {
		panic(fmt.Sprintf("simulation: start %s/%d: %v", rp.node.id, rp.part, err))
	}
	rp.r, rp.durable, rp.commit, rp.syncAt, rp.checkedIdx = r, end, 0, -1, 0
	rp.leading, rp.epoch = false, 0
	alive := rp.node.aliveIDs()
	rp.core(func() { r.SetAlive(alive); r.Tick() })
	rp.process()
}

// stop stops the core; what it had not answered is indeterminate.
func (rp *replica) stop() {
	s := rp.sim
	for _, list := range [][]pendingAck{rp.pendingLeader, rp.pendingQuorum} {
		for _, p := range list {
			s.hist.Complete(p.op, s.now, check.Unknown)
		}
	}
	rp.pendingLeader, rp.pendingQuorum = nil, nil
	if rp.leading {
		s.event(Event{Kind: EventStepDown, Partition: rp.part, Node: rp.node.id, Epoch: rp.epoch, Detail: "stopped"})
	}
	rp.r, rp.leading, rp.syncAt = nil, false, -1
}

// crash stops the replica and loses what its disk had not synced.
func (rp *replica) crash(torn bool) {
	lost := rp.log.Crash(torn)
	if lost.To > lost.From {
		rp.sim.chk.Dropped(rp.part, rp.node.id, lost.From, lost.To)
	}
	rp.crashed = true
	if rp.r != nil {
		rp.stop()
	}
}

// fail stops a replica whose log failed (a failed fsync, a refused write): it is reopened after
// downTicks, recovering what is on disk.
func (rp *replica) fail(downTicks int) {
	rp.crash(false)
	rp.restartAt = rp.sim.now + int64(downTicks)
}

func (rp *replica) tick() {
	if rp.r == nil {
		return
	}
	rp.core(rp.r.Tick)
	rp.process()
}

func (rp *replica) step(m replication.Message) {
	var err error
	rp.core(func() { err = rp.r.Step(m) })
	if err != nil {
		panic(fmt.Sprintf("simulation: deliver %s: %v", m, err))
	}
	rp.process()
}

func (rp *replica) setAlive(ids []replication.NodeID) {
	if rp.r == nil {
		return
	}
	rp.core(func() { rp.r.SetAlive(ids) })
	rp.process()
}

// process does the core's Readys until it has none.
func (rp *replica) process() {
	s := rp.sim
	for rp.r != nil {
		var rd replication.Ready
		has := false
		rp.core(func() {
			if has = rp.r.HasReady(); has {
				rd = rp.r.Ready()
			}
		})
		if !has {
			break
		}
		for _, w := range rd.Writes {
			if err := rp.log.Apply(w); err != nil {
				s.chk.Violate(check.Violation{Invariant: check.RefusedWrite, Tick: s.now, Partition: rp.part,
					Offset: w.To, Replicas: []replication.NodeID{rp.node.id}, Detail: fmt.Sprintf("%s: %v", rp.node.id, err)})
				rp.fail(ElectionTicks)
				return
			}
			if w.Truncate {
				rp.truncated(w.To)
			}
		}
		if rd.Promise != 0 {
			rp.log.Promised = rd.Promise
		}
		if crashNow := s.crashNow(rp, rd); crashNow != "" {
			// The writes reached the disk; the messages never leave (a new leader's first
			// ones, or those after a commit advance, whose producers are answered first).
			rp.log.Sync()
			if crashNow == "commit" {
				rp.setCommit(rd.Commit)
			}
			s.crash(rp.node, ClassCrash, s.between(s.faults.Crash.MinTicks, s.faults.Crash.MaxTicks))
			return
		}
		for _, m := range rd.Messages {
			s.net.Send(s.now, rp.part, m)
		}
		rp.setCommit(rd.Commit)
		rp.core(rp.r.Advance)
		if len(rd.Writes) > 0 {
			rp.wrote()
		}
	}
	rp.afterReady()
}

// wrote reports durability after log writes: under interval (and under the ack-before-fsync
// canary) the log end is the durable end at once; under always the tail syncs a little later.
func (rp *replica) wrote() {
	s := rp.sim
	if s.faults.Fsync == FsyncInterval || s.canary.name == CanaryAckBeforeFsync {
		rp.advanceDurable(rp.log.End())
	}
	if s.faults.Fsync == FsyncAlways && rp.syncAt < 0 && rp.log.Unsynced() > 0 {
		rp.syncAt = s.now + int64(s.faults.FsyncLatencyTicks)
	}
}

// syncNow fsyncs the log, or fails it (fsync-error), stopping the replica.
func (rp *replica) syncNow() {
	s := rp.sim
	rp.syncAt = -1
	if rp.r == nil || rp.log.Unsynced() == 0 {
		return
	}
	if f := s.faults.FsyncError; f.On() && s.phase == "safety" && s.rng.IntN(1000) < f.PerMille {
		d := s.between(f.MinTicks, f.MaxTicks)
		s.counts[ClassFsyncError]++
		s.trace.add(0xC1, uint64(rp.node.index), uint64(rp.part))
		s.event(Event{Kind: EventFault, Partition: rp.part, Node: rp.node.id, Class: ClassFsyncError,
			Detail: fmt.Sprintf("fsync failed: replica stopped for %d ticks, %d unsynced batches lost", d, rp.log.Unsynced())})
		if rp.leading {
			s.openFailover(rp, ClassFsyncError)
		}
		rp.fail(d)
		return
	}
	rp.log.Sync()
	rp.advanceDurable(rp.log.End())
	rp.process()
}

// advanceDurable tells the core the durable end and answers acks=leader produces it covers.
func (rp *replica) advanceDurable(end replication.Offset) {
	end = min(end, rp.log.End())
	if end <= rp.durable || rp.r == nil {
		return
	}
	rp.durable = end
	rp.core(func() { rp.r.Durable(end) })
	rp.setCommit(rp.r.Commit())
	rp.pendingLeader = rp.answer(rp.pendingLeader, end)
}

// setCommit publishes a commit point: acks=quorum produces it covers are answered, and the
// batches below it go to the checker.
func (rp *replica) setCommit(c replication.Offset) {
	if c <= rp.commit {
		return
	}
	rp.commit = c
	rp.pendingQuorum = rp.answer(rp.pendingQuorum, c)
	s := rp.sim
	for rp.checkedIdx < rp.log.Len() {
		b, _ := rp.log.Batch(rp.checkedIdx)
		entries := check.Entries(b)
		if entries[len(entries)-1].Offset >= c {
			break
		}
		s.chk.Committed(s.now, rp.part, rp.node.id, entries)
		rp.checkedIdx++
	}
}

// answer acknowledges the pending produces that end at or below end.
func (rp *replica) answer(list []pendingAck, end replication.Offset) []pendingAck {
	n := 0
	for n < len(list) && list[n].end <= end {
		rp.sim.complete(list[n].op, check.OK)
		n++
	}
	return list[n:]
}

// truncated forgets what the log no longer holds: produces past the cut are indeterminate.
func (rp *replica) truncated(to replication.Offset) {
	s := rp.sim
	keep := func(list []pendingAck) []pendingAck {
		out := list[:0]
		for _, p := range list {
			if p.end > to {
				s.complete(p.op, check.Unknown)
			} else {
				out = append(out, p)
			}
		}
		return out
	}
	rp.pendingLeader, rp.pendingQuorum = keep(rp.pendingLeader), keep(rp.pendingQuorum)
	rp.durable = min(rp.durable, to)
	rp.checkedIdx = min(rp.checkedIdx, rp.log.Len())
}

// afterReady follows leadership (the checker's one leader per epoch, the timeline, and the
// produces a leader that stepped down leaves indeterminate) and keeps the unclean marker.
func (rp *replica) afterReady() {
	if rp.r == nil {
		return
	}
	s := rp.sim
	isLeader, e := rp.r.IsLeader(), rp.r.Epoch()
	if isLeader {
		s.chk.Leader(s.now, rp.part, e, rp.node.id)
	}
	if isLeader != rp.leading || isLeader && e != rp.epoch {
		if rp.leading {
			s.event(Event{Kind: EventStepDown, Partition: rp.part, Node: rp.node.id, Epoch: rp.epoch, Detail: "stepped down"})
			for _, list := range [][]pendingAck{rp.pendingLeader, rp.pendingQuorum} {
				for _, p := range list {
					s.complete(p.op, check.Unknown)
				}
			}
			rp.pendingLeader, rp.pendingQuorum = nil, nil
		}
		if isLeader {
			s.event(Event{Kind: EventLeader, Partition: rp.part, Node: rp.node.id, Epoch: e, Detail: "leads"})
			s.maybeIsolateLeader(rp.node)
		}
		rp.leading, rp.epoch = isLeader, e
	}
	rp.log.Unclean = rp.r.Unclean()
}

// produce appends a producer's batch as the leader (the caller checked it leads) and answers
// it per its acks level.
func (rp *replica) produce(op int, values []string, acks check.Acks) {
	s := rp.sim
	base, e := rp.log.End(), rp.r.Epoch()
	b := dataBatch(values, base, e)
	if err := rp.log.Apply(replication.LogWrite{Batch: b}); err != nil {
		panic(fmt.Sprintf("simulation: the leader's own append: %v", err))
	}
	end := rp.log.End()
	rp.core(func() { rp.r.Appended(end) })
	o := &s.hist.Ops[op]
	o.Node, o.Offset, o.Epoch = rp.node.id, base, e
	switch {
	case acks == check.AcksNone, acks == check.AcksQuorum && s.canary.name == CanaryAckBeforeReplication:
		s.complete(op, check.OK)
	case acks == check.AcksLeader && end <= rp.durable:
		s.complete(op, check.OK)
	case acks == check.AcksLeader:
		rp.pendingLeader = append(rp.pendingLeader, pendingAck{op, end})
	case end <= rp.commit:
		s.complete(op, check.OK)
	default:
		rp.pendingQuorum = append(rp.pendingQuorum, pendingAck{op, end})
	}
	rp.wrote()
	rp.process()
}

// read returns the committed entries from offset from, at most about limit of them (whole
// batches), as a consumer's fetch at this replica.
func (rp *replica) read(from replication.Offset, limit int) []check.Entry {
	var out []check.Entry
	for i := rp.log.Find(from); i >= 0 && i < rp.log.Len() && len(out) < limit; i++ {
		b, _ := rp.log.Batch(i)
		entries := check.Entries(b)
		if entries[len(entries)-1].Offset >= rp.commit {
			break
		}
		for _, e := range entries {
			if e.Offset >= from {
				out = append(out, e)
			}
		}
	}
	return out
}

// dataBatch is a producer's batch of values, stamped by the leader at base in epoch e (ids are
// base+1.., unique and increasing).
func dataBatch(values []string, base replication.Offset, e replication.Epoch) []byte {
	bld := batch.NewBuilder(batch.HeaderSize + 32*len(values))
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for _, v := range values {
		if err := bld.Add(batch.ID{}, 0, nil, []byte(v), nil); err != nil {
			panic(fmt.Sprintf("simulation: build a batch: %v", err))
		}
	}
	b, err := bld.Finish()
	if err != nil {
		panic(fmt.Sprintf("simulation: build a batch: %v", err))
	}
	out := append([]byte(nil), b...)
	batch.Stamp(out, uint64(base), uint64(e), batch.ID{Ms: uint64(base) + 1})
	return out
}
