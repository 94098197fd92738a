package partition

import (
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
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
)

// partitionActor is the state only the actor's goroutine touches.
type partitionActor struct {
	p         *Partition
	log       *storage.Log
	producers producerTable
	// pending are the produces waiting for the durable end, sorted by waitFor.
	pending []pendingProduce
	// durableEnd is the log's durable end as the actor last heard it.
	// Invariant: durableEnd <= log.LogEnd(); every pending entry has waitFor > durableEnd.
	durableEnd uint64
	// incarnations counts Started messages: more than one means a supervisor restarted the
	// actor, which StopOnFailure never does.
	incarnations int
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
		a.produce(msg)
	case *durableMsg:
		a.advance(msg.end)
	case *trimMsg:
		removed, err := a.log.Trim(msg.trim)
		msg.reply <- trimReply{removed: removed, err: err}
	case *retentionMsg:
		a.enforceRetention(msg.nowMs)
	case *logFailedMsg:
		a.fail(ctx, msg.err)
	case *actor.Started:
		a.started()
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

func (a *partitionActor) started() {
	a.incarnations++
	if a.incarnations > 1 {
		a.p.markFailed(fmt.Errorf("the actor was started %d times; partitions are never restarted in place", a.incarnations))
	}
}

// produce appends one batch, or answers it as a duplicate or with an error.
func (a *partitionActor) produce(msg *produceMsg) {
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
	appended, err := a.log.Append(msg.batch, a.p.epoch, uint64(a.p.cfg.Now().UnixMilli()))
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
	// Under FsyncInterval and FsyncNever the durable end is the log end: it moved just now.
	a.advance(a.log.DurableEnd())
}

// answerWhenDurable answers at once for AcksNone or an already durable batch, and otherwise
// queues the answer until the durable end passes the batch.
func (a *partitionActor) answerWhenDurable(msg *produceMsg, size int64, produced Produced) {
	if msg.acks == protocol.AcksNone || produced.NextOffset <= a.durableEnd {
		a.answer(msg.reply, size, produced, nil)
		return
	}
	entry := pendingProduce{waitFor: produced.NextOffset, produced: produced, bytes: size, reply: msg.reply}
	// Appends arrive in offset order, so this is almost always the end; a duplicate of an
	// earlier batch may wait for a lower offset.
	i, _ := slices.BinarySearchFunc(a.pending, entry.waitFor, func(e pendingProduce, w uint64) int {
		if e.waitFor <= w {
			return -1
		}
		return 1
	})
	a.pending = slices.Insert(a.pending, i, entry)
}

// advance records a new durable end: it publishes the high watermark and answers the produces
// it covers.
func (a *partitionActor) advance(end uint64) {
	if end <= a.durableEnd {
		return
	}
	a.durableEnd = end
	a.p.watch.advance(end)
	n := 0
	for n < len(a.pending) && a.pending[n].waitFor <= end {
		e := a.pending[n]
		a.answer(e.reply, e.bytes, e.produced, nil)
		n++
	}
	a.pending = slices.Delete(a.pending, 0, n)
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
	for _, e := range a.pending {
		a.answer(e.reply, e.bytes, Produced{}, err)
	}
	a.pending = nil
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
	}
	a.p.closeErr = a.log.Close()
	if err := a.p.Err(); err != nil {
		a.failPending(err)
	} else {
		a.failPending(protocol.Errorf(protocol.ErrShuttingDown, "partition %s stopped before the batch was durable", a.p.name))
	}
}
