package partition

import (
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/group"
	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// Messages of the partition actor. Each is sent by a Partition method (or the relay) and carries
// a buffered reply channel where an answer is due, so the actor never blocks on a reply.
type (
	produceMsg struct {
		batch []byte
		acks  protocol.Acks
		reply chan<- produceReply
	}
	produceReply struct {
		produced Produced
		err      error
	}
	// durableMsg: the log's durable end reached end.
	durableMsg struct{ end uint64 }
	// logFailedMsg: the log refuses writes (a failed fsync); the partition fails.
	logFailedMsg struct{ err error }
	trimMsg      struct {
		trim  storage.Trim
		reply chan<- trimReply
	}
	trimReply struct {
		removed uint64
		err     error
	}
	retentionMsg struct{ nowMs int64 }
	// Replication: a message from a peer, a tick, the membership view, the desired replica
	// set, and a status request.
	stepMsg      struct{ m replication.Message }
	tickMsg      struct{}
	aliveMsg     struct{ ids []replication.NodeID }
	goneMsg      struct{ ids []replication.NodeID }
	placementMsg struct {
		preference []replication.NodeID
		rf         int
		learners   bool
		target     []replication.NodeID
		// alsoLearners: members that are learners whatever the preference says (__meta's
		// draining members: they still host replicas, so they must go on hearing the catalog).
		alsoLearners []replication.NodeID
	}
	statusMsg   struct{ reply chan<- replication.Status }
	handOverMsg struct{}
)

// partitionActor is the state only the actor's goroutine touches.
type partitionActor struct {
	p         *Partition
	log       *storage.Log
	r         *replication.Replica
	producers producerTable
	// pending are the acks=leader produces waiting for the durable end, sorted by waitFor.
	pending []pendingProduce
	// pendingCommit are the acks=quorum produces waiting for the commit point, sorted.
	pendingCommit []pendingProduce
	// durableEnd is the log's durable end as the actor last heard it.
	// Invariant: durableEnd <= log.LogEnd(); every pending entry has waitFor > durableEnd.
	durableEnd uint64
	// commit is the commit point (high watermark). Invariant: every pendingCommit entry has
	// waitFor > commit.
	commit uint64
	// configs: how many config entries replicas.json holds; uncleanMarked: the unclean file
	// exists.
	configs       int
	uncleanMarked bool
	// ticks counts ticks, for publishing the in-sync set now and then.
	ticks int
	// incarnations counts Started messages: more than one means a supervisor restarted the
	// actor, which StopOnFailure never does.
	incarnations int
	// waiters are operations answered when the commit point passes them (control entries the
	// leader wrote), sorted by waitFor. Invariant: every waiter has waitFor > commit.
	waiters []waiter
	// trims are logged trims not yet committed, in log order.
	trims []pendingTrim
	// groups is the consumer-group state (see groups.go).
	groups groupState
}

// pendingProduce is a produce appended (or found duplicate) and waiting to be durable.
type pendingProduce struct {
	waitFor  uint64
	produced Produced
	bytes    int64
	reply    chan<- produceReply
}

// Receive is the actor's message loop body.
func (a *partitionActor) Receive(ctx actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			// Record the failure with the stack, then let protoactor's supervision see the panic:
			// StopOnFailure stops the actor, and Stopping answers what is pending.
			cause := fmt.Errorf("panic in the partition actor: %v", r)
			if a.p.markFailed(cause) {
				a.p.cfg.Logger.Error("partition actor panicked; stopping it (it is not restarted)",
					"partition", a.p.name, "panic", fmt.Sprint(r), "message", fmt.Sprintf("%T", ctx.Message()), "stack", string(debug.Stack()))
			}
			panic(r)
		}
	}()
	switch msg := ctx.Message().(type) {
	case *produceMsg:
		a.produce(ctx, msg)
	case *durableMsg:
		a.advance(a.log.DurableEnd()) // read now: a truncation since may have lowered it
		a.processReady(ctx)
	case *trimMsg:
		a.trim(msg)
		a.processReady(ctx)
	case *deleteMsg:
		a.deleteIDs(msg)
		a.processReady(ctx)
	case *setIDMsg:
		a.setID(msg)
		a.processReady(ctx)
	case *groupMsg:
		a.group(msg)
		a.processReady(ctx)
	case *retentionMsg:
		a.enforceRetention(msg.nowMs)
	case *logFailedMsg:
		a.fail(ctx, msg.err)
	case *stepMsg:
		if err := a.r.Step(msg.m); err != nil {
			a.p.cfg.Logger.Warn("partition: replication message refused", "partition", a.p.name, "err", err)
		}
		a.processReady(ctx)
	case tickMsg:
		a.r.Tick()
		a.processReady(ctx)
		a.publishInSync()
	case *aliveMsg:
		a.r.SetAlive(msg.ids)
		a.processReady(ctx)
	case *goneMsg:
		a.r.SetGone(msg.ids)
		a.processReady(ctx)
	case *placementMsg:
		if len(msg.target) > 0 {
			a.r.SetDesired(replication.Config{Voters: msg.target})
			a.processReady(ctx)
		} else if want, ok := desiredSet(a.r.Config(), msg.preference, msg.rf, msg.learners); ok {
			for _, id := range msg.alsoLearners {
				if !slices.Contains(want.Voters, id) && !slices.Contains(want.Learners, id) {
					want.Learners = append(want.Learners, id)
				}
			}
			a.r.SetDesired(want)
			a.processReady(ctx)
		}
	case handOverMsg:
		a.r.HandOver()
		a.processReady(ctx)
	case *statusMsg:
		msg.reply <- a.r.Status()
	case *actor.Started:
		a.started(ctx)
	case *actor.Stopping:
		a.stopping()
	case *actor.Stopped:
		a.p.watch.stop()
		close(a.p.done)
	case *actor.Restarting:
		a.p.markFailed(fmt.Errorf("a supervisor restarted the actor; partitions are never restarted in place"))
	case actor.SystemMessage, actor.AutoReceiveMessage:
		// lifecycle messages of protoactor that need nothing from us
	default:
		panic(fmt.Sprintf("partition %s: unexpected message %T (a programmer error)", a.p.name, msg))
	}
}

func (a *partitionActor) started(ctx actor.Context) {
	a.incarnations++
	if a.incarnations > 1 {
		a.p.markFailed(fmt.Errorf("the actor was started %d times; partitions are never restarted in place", a.incarnations))
		return
	}
	defer close(a.p.started)
	if err := a.loadGroups(); err != nil {
		a.fail(ctx, fmt.Errorf("load the consumer groups: %w", err))
		return
	}
	// A first tick: a replica set of one leads at once, a new partition's first voter campaigns.
	a.r.Tick()
	a.processReady(ctx)
}

// produce appends one batch, or answers it as a duplicate or with an error.
func (a *partitionActor) produce(ctx actor.Context, msg *produceMsg) {
	size := int64(len(msg.batch))
	if err := a.p.Err(); err != nil {
		a.answer(msg.reply, size, Produced{}, err)
		return
	}
	h, err := batch.ReadHeader(msg.batch)
	if err != nil {
		a.refuse(msg.reply, size, fmt.Errorf("%w: %w", storage.ErrCorrupt, err))
		return
	}
	if h.IsControl() {
		a.refuse(msg.reply, size, protocol.Errorf(protocol.ErrInvalidArgument, "control batches are written by the broker, not produced"))
		return
	}
	if !a.r.IsLeader() {
		a.refuse(msg.reply, size, a.p.notLeader())
		return
	}
	dup, found, err := a.producers.check(h)
	if err != nil {
		a.refuse(msg.reply, size, err)
		return
	}
	if found {
		a.p.counters.duplicates.Add(1)
		a.answerWhenDurable(msg, size, dup)
		return
	}
	appended, err := a.log.Append(msg.batch, uint64(a.r.Epoch()), uint64(a.p.cfg.Now().UnixMilli()))
	if err != nil {
		a.refuse(msg.reply, size, fmt.Errorf("partition %s: %w", a.p.name, err))
		return
	}
	produced := Produced{BaseOffset: appended.BaseOffset, NextOffset: appended.NextOffset, FirstID: appended.FirstID, LastID: appended.LastID}
	a.producers.record(h, produced)
	a.p.counters.producedBatches.Add(1)
	a.p.counters.producedRecords.Add(uint64(h.RecordCount))
	a.p.counters.producedBytes.Add(uint64(size))
	a.answerWhenDurable(msg, size, produced)
	a.r.Appended(replication.Offset(appended.NextOffset))
	// Under FsyncInterval and FsyncNever the durable end is the log end: it moved just now.
	a.advance(a.log.DurableEnd())
	a.processReady(ctx)
}

// answerWhenDurable answers at once for AcksNone, for an acks=leader batch already durable and
// an acks=quorum batch already committed; otherwise it queues the answer until the durable end
// (acks=leader) or the commit point (acks=quorum) passes the batch.
func (a *partitionActor) answerWhenDurable(msg *produceMsg, size int64, produced Produced) {
	entry := pendingProduce{waitFor: produced.NextOffset, produced: produced, bytes: size, reply: msg.reply}
	switch {
	case msg.acks == protocol.AcksNone,
		msg.acks == protocol.AcksLeader && produced.NextOffset <= a.durableEnd,
		msg.acks == protocol.AcksQuorum && produced.NextOffset <= a.commit:
		a.answer(msg.reply, size, produced, nil)
	case msg.acks == protocol.AcksLeader:
		a.pending = insertPending(a.pending, entry)
	default:
		a.pendingCommit = insertPending(a.pendingCommit, entry)
	}
}

// insertPending keeps a list sorted by waitFor. Appends arrive in offset order, so this is
// almost always the end; a duplicate of an earlier batch may wait for a lower offset.
func insertPending(list []pendingProduce, entry pendingProduce) []pendingProduce {
	i, _ := slices.BinarySearchFunc(list, entry.waitFor, func(e pendingProduce, w uint64) int {
		if e.waitFor <= w {
			return -1
		}
		return 1
	})
	return slices.Insert(list, i, entry)
}

// answerUpTo answers the entries of a sorted list that end at or below end, naming the replicas
// that hold each durably, and returns the rest.
func (a *partitionActor) answerUpTo(list []pendingProduce, end uint64) []pendingProduce {
	n := 0
	for n < len(list) && list[n].waitFor <= end {
		produced := list[n].produced
		produced.Replicas = idStrings(a.r.DurableOn(replication.Offset(produced.NextOffset)))
		a.answer(list[n].reply, list[n].bytes, produced, nil)
		n++
	}
	return slices.Delete(list, 0, n)
}

// advance records a new durable end: it answers the acks=leader produces it covers and tells
// the replication core (which may move the commit point: see processReady).
func (a *partitionActor) advance(end uint64) {
	end = min(end, a.log.LogEnd())
	if end <= a.durableEnd {
		return
	}
	a.durableEnd = end
	a.r.Durable(replication.Offset(end))
	// The commit point the core may have moved is published first: a replica set of one
	// answers acks=leader with the batch already visible to consumers.
	a.setCommit(uint64(a.r.Commit()))
	a.pending = a.answerUpTo(a.pending, end)
}

// setCommit publishes a new commit point (the high watermark) and answers the acks=quorum
// produces it covers.
func (a *partitionActor) setCommit(commit uint64) {
	if commit <= a.commit {
		return
	}
	a.commit = commit
	a.committed(commit)
	a.p.watch.advance(commit)
	a.pendingCommit = a.answerUpTo(a.pendingCommit, commit)
}

func (a *partitionActor) refuse(reply chan<- produceReply, size int64, err error) {
	a.p.counters.refusedProduces.Add(1)
	a.answer(reply, size, Produced{}, err)
}

// answer replies to one produce and releases its bytes. The reply channel is buffered: this
// never blocks.
func (a *partitionActor) answer(reply chan<- produceReply, size int64, produced Produced, err error) {
	a.p.inFlightBytes.Add(-size)
	reply <- produceReply{produced: produced, err: err}
}

// failPending answers every pending produce with err.
func (a *partitionActor) failPending(err error) {
	for _, e := range append(a.pending, a.pendingCommit...) {
		a.answer(e.reply, e.bytes, Produced{}, err)
	}
	a.pending, a.pendingCommit = nil, nil
	a.failWaiters(0, err)
}

func (a *partitionActor) enforceRetention(nowMs int64) {
	if a.p.Err() != nil {
		return
	}
	removed, err := a.log.EnforceRetention(nowMs)
	a.p.counters.retentionRemoved.Add(removed)
	if err != nil {
		a.p.cfg.Logger.Warn("partition: retention failed", "partition", a.p.name, "err", err)
	}
	if removed > 0 {
		a.p.cfg.Logger.Debug("partition: retention removed records", "partition", a.p.name, "records", removed, "log_start", a.log.LogStart())
	}
}

// fail handles a log that refuses writes: the partition is failed and stops; the node reopens
// it on restart (which recovers what is on disk).
func (a *partitionActor) fail(ctx actor.Context, cause error) {
	if a.p.markFailed(cause) {
		a.p.cfg.Logger.Error("partition failed: its log refuses writes; stopping it", "partition", a.p.name, "err", cause)
	}
	a.failPending(a.p.Err())
	ctx.Stop(ctx.Self())
}

// stopping makes what was appended durable, answers what is pending, stops the relay and closes
// the log. It must not panic: a panic here would leave the actor half stopped.
func (a *partitionActor) stopping() {
	defer func() {
		if r := recover(); r != nil {
			a.p.cfg.Logger.Error("partition: panic while stopping", "partition", a.p.name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	a.p.relayCancel()
	if a.p.Err() == nil {
		if err := a.log.Sync(); err == nil {
			a.advance(a.log.DurableEnd())
		}
		if a.groups.committed == nil {
			a.groups.committed, a.groups.committedAt = group.NewState(), a.commit
		}
		a.saveGroups()
	}
	a.p.closeErr = a.log.Close()
	if err := a.p.Err(); err != nil {
		a.failPending(err)
	} else {
		a.failPending(protocol.Errorf(protocol.ErrShuttingDown, "partition %s stopped before the batch was durable", a.p.name))
	}
}
