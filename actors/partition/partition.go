package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// ErrFailed means the partition actor failed (a panic, or a log that refused writes after a
// failed fsync) and was stopped; the partition serves nothing until the node restarts it.
var ErrFailed = errors.New("partition failed")

// Partition is the handle of one running partition actor. Its methods are safe for concurrent
// use from any goroutine; they block only where their documentation says so.
type Partition struct {
	cfg  Config
	name string
	log  *storage.Log
	pid  *actor.PID
	// process is the actor's mailbox, resolved once: messages go straight to it, so a message
	// that races with the actor's stop is dropped with the mailbox instead of becoming a dead
	// letter (whose log throttle starts a goroutine).
	process actor.Process
	// leadership is published by the actor whenever its role, leader or epoch changes.
	leadership atomic.Pointer[Leadership]
	watch      *watch

	recovery storage.Recovery

	// inFlightBytes counts the bytes of produces sent to the actor and not yet answered.
	// Invariant: 0 <= inFlightBytes; it exceeds cfg.MaxInFlightBytes only by one batch that was
	// accepted while nothing else was in flight.
	inFlightBytes atomic.Int64
	counters      counters
	failure       atomic.Pointer[error]
	// groupCount is the number of consumer groups, published by the actor.
	groupCount atomic.Int64

	// started is closed once the actor handled its Started message (a replica set of one leads
	// from then on); done is closed when the actor has stopped and the log is closed; closeErr
	// is set before.
	started       chan struct{}
	done          chan struct{}
	closeErr      error
	stopRequested atomic.Bool

	relayCancel context.CancelFunc
	relayDone   chan struct{}
}

// counters are the partition's activity since it started.
type counters struct {
	producedBatches  atomic.Uint64
	producedRecords  atomic.Uint64
	producedBytes    atomic.Uint64
	duplicates       atomic.Uint64
	fetches          atomic.Uint64
	fetchedBytes     atomic.Uint64
	fetchedRecords   atomic.Uint64
	busyRejections   atomic.Uint64
	refusedProduces  atomic.Uint64
	retentionRemoved atomic.Uint64
	// movedBytes counts the log bytes this replica, as leader, sent to learners (moves, and
	// replicas replacing dead ones).
	movedBytes atomic.Uint64
}

// Produced is where a produced batch landed.
type Produced struct {
	BaseOffset uint64
	NextOffset uint64
	FirstID    batch.ID
	LastID     batch.ID
	// Duplicate is true when the batch was a retry of one already appended: nothing was
	// appended and the offsets are the original ones.
	Duplicate bool
	// Replicas are the voters that held the batch durably when an acks=quorum produce was
	// answered (this node alone for acks=leader).
	Replicas []string
}

// Start opens the partition's log (recovering it), rebuilds the producer table from the log's
// tail, and spawns the partition actor as a child of parent (the node supervisor, whose
// supervisor strategy must be StopOnFailure; a root context needs WithGuardian(StopOnFailure)).
// The actor's name is "<topic>/<partition>". It blocks while the log recovers.
func Start(parent actor.SpawnerContext, cfg Config) (*Partition, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Storage.Logger == nil {
		cfg.Storage.Logger = cfg.Logger
	}
	log, recovery, err := storage.Open(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", cfg.name(), err)
	}
	producers := newProducerTable(cfg.ProducerWindowBatches, cfg.MaxProducers)
	if err := rebuildProducers(log, cfg.ProducerScanRecords, &producers); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("partition %s: rebuild the producer table: %w", cfg.name(), err)
	}
	opts, err := replicaOptions(cfg, log, recovery)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("partition %s: %w", cfg.name(), err)
	}
	core, err := replication.New(opts)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("partition %s: %w", cfg.name(), err)
	}
	// A replica set of this node alone has committed everything it holds; a replicated one
	// learns its commit point from its leader.
	hw := uint64(0)
	if voters := core.Config().Voters; len(voters) == 1 && string(voters[0]) == cfg.nodeID() {
		hw = log.DurableEnd()
	}
	p := &Partition{
		cfg:       cfg,
		name:      cfg.name(),
		log:       log,
		watch:     newWatch(hw),
		recovery:  recovery,
		started:   make(chan struct{}),
		done:      make(chan struct{}),
		relayDone: make(chan struct{}),
	}
	p.leadership.Store(&Leadership{})
	// The relay starts from the durable end the actor starts with: read once, here. Reading it
	// again when the relay starts lost a durable advance in between (the actor may append and
	// the syncer fsync before that goroutine runs), and a partition that wrote nothing after it
	// never heard that its first entry was durable: a new cluster's __meta stayed uncommitted
	// with one voter for good (the cluster simulator's formation failures under make test).
	durable := log.DurableEnd()
	a := &partitionActor{p: p, log: log, r: core, producers: producers, durableEnd: durable, commit: hw,
		configs: len(opts.Configs), uncleanMarked: opts.Unclean}
	props := actor.PropsFromProducer(func() actor.Actor { return a })
	if cfg.Dispatcher != nil {
		props.Configure(actor.WithDispatcher(cfg.Dispatcher))
	}
	// The relay context exists before the actor does: the actor's Stopping cancels it.
	var relayCtx context.Context
	relayCtx, p.relayCancel = context.WithCancel(context.Background())
	pid, err := parent.SpawnNamed(props, p.name)
	if err != nil {
		p.relayCancel()
		_ = log.Close()
		return nil, fmt.Errorf("partition %s: spawn the actor: %w", p.name, err)
	}
	p.pid = pid
	p.process, _ = parent.ActorSystem().ProcessRegistry.Get(pid)
	go p.relay(relayCtx, durable)
	select {
	case <-p.started:
	case <-p.done:
	}
	cfg.Logger.Debug("partition started", "partition", p.name, "log_start", log.LogStart(), "log_end", log.LogEnd(),
		"promised_epoch", log.PromisedEpoch(), "producers", producers.len(), "unclean", opts.Unclean,
		"replicas", core.Config().String())
	return p, nil
}

// rebuildProducers scans the last scanRecords records of the log into the producer table.
func rebuildProducers(log *storage.Log, scanRecords uint64, table *producerTable) error {
	end := log.LogEnd()
	from := log.LogStart()
	if end > from && end-from > scanRecords {
		from = end - scanRecords
	}
	buf := make([]byte, 0, scanReadBytes)
	for from < end {
		res, err := log.Read(from, scanReadBytes, end, buf)
		if err != nil {
			return err
		}
		if len(res.Data) == 0 {
			return nil
		}
		for rest := res.Data; len(rest) > 0; {
			h, err := batch.ReadHeader(rest)
			if err != nil {
				return fmt.Errorf("%w: %w", storage.ErrCorrupt, err)
			}
			table.record(h, Produced{BaseOffset: h.BaseOffset, NextOffset: h.NextOffset(), FirstID: h.FirstID, LastID: h.LastID})
			rest = rest[h.Length:]
		}
		from = res.Next
		buf = res.Data[:0]
	}
	return nil
}

// relay follows the log's durable end and tells the actor each time it advances, or that the
// log failed. It never blocks the actor: it waits on the log, not in the mailbox.
func (p *Partition) relay(ctx context.Context, seen uint64) {
	defer close(p.relayDone)
	for {
		err := p.log.WaitDurable(ctx, seen+1)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, storage.ErrTruncated) {
			// A follower cut a divergent suffix: wait from the new durable end on.
			seen = p.log.DurableEnd()
			p.send(&durableMsg{end: seen})
			continue
		}
		if err != nil {
			p.send(&logFailedMsg{err: err})
			return
		}
		seen = p.log.DurableEnd()
		p.send(&durableMsg{end: seen})
	}
}

// send posts msg to the actor's mailbox without blocking.
func (p *Partition) send(msg any) { p.process.SendUserMessage(p.pid, msg) }

// Topic returns the partition's topic.
func (p *Partition) Topic() string { return p.cfg.Topic }

// ID returns the partition's number in its topic.
func (p *Partition) ID() int32 { return p.cfg.Partition }

// PID returns the actor's process id.
func (p *Partition) PID() *actor.PID { return p.pid }

// Epoch returns the epoch of the leader this replica knows.
func (p *Partition) Epoch() uint64 { return p.leadership.Load().Epoch }

// Leadership returns what this replica knows of its leader.
func (p *Partition) Leadership() Leadership { return *p.leadership.Load() }

// notLeader returns the error for a request only the leader serves, naming the leader to try.
func (p *Partition) notLeader() error {
	l := p.leadership.Load()
	if l.Leader == "" {
		return protocol.Errorf(protocol.ErrUnavailable, "partition %s has no leader right now (epoch %d): retry shortly", p.name, l.Epoch)
	}
	return protocol.Errorf(protocol.ErrNotLeader, "partition %s is led by %s in epoch %d, not by %s", p.name, l.Leader, l.Epoch, p.cfg.nodeID())
}

// Deliver hands a replication message from a peer to the actor. It does not block.
func (p *Partition) Deliver(m protocol.ReplicaMessage) {
	if p.unavailable() == nil {
		p.send(&stepMsg{m: fromWire(m)})
	}
}

// Tick advances the replication core's logical time by one tick. It does not block.
func (p *Partition) Tick() {
	if p.unavailable() == nil {
		p.send(tickMsg{})
	}
}

// SetAlive gives the replica the node's membership view: the nodes believed alive.
func (p *Partition) SetAlive(ids []string) {
	if p.unavailable() == nil {
		p.send(&aliveMsg{ids: nodeIDs(ids)})
	}
}

// SetGone gives the replica the nodes an operator removed for good (`shoal cluster remove`).
func (p *Partition) SetGone(ids []string) {
	if p.unavailable() == nil {
		p.send(&goneMsg{ids: nodeIDs(ids)})
	}
}

// SetPlacement gives the replica the ring's preference order of the members placement may use
// for this partition, its replication factor, and a target replica set (nil: heal only). With a
// target, a leader moves toward it (placement's balanced assignment: a join or a drain). Without
// one, it keeps its replica set while every member is in the preference order and it has rf
// voters, and otherwise wants the members it has plus the next in preference order, up to rf
// (RF restored without moving data that need not move). __meta also takes every other member
// as a learner.
func (p *Partition) SetPlacement(preference []string, rf int, target []string) {
	p.SetMetaPlacement(preference, rf, target, nil)
}

// SetMetaPlacement is SetPlacement with members that are learners of __meta whatever the
// preference (its draining members).
func (p *Partition) SetMetaPlacement(preference []string, rf int, target, alsoLearners []string) {
	if p.unavailable() == nil {
		p.send(&placementMsg{preference: nodeIDs(preference), rf: rf, learners: p.cfg.Topic == metaTopic, target: nodeIDs(target),
			alsoLearners: nodeIDs(alsoLearners)})
	}
}

// HandOver asks a leader to transfer its leadership to an in-sync voter (its node is leaving).
// It does not wait; Leadership tells when it is done.
func (p *Partition) HandOver() {
	if p.unavailable() == nil {
		p.send(handOverMsg{})
	}
}

// ReadCommitted reads committed batches from offset from on any replica (the node's own
// catalog reader uses it on __meta); clients read through Read, from the leader.
func (p *Partition) ReadCommitted(from uint64, maxBytes int) (storage.ReadResult, error) {
	if err := p.unavailable(); err != nil {
		return storage.ReadResult{}, err
	}
	return p.log.Read(from, maxBytes, p.HighWatermark(), nil)
}

// Replication returns a snapshot of the replication core; it asks the actor and waits.
func (p *Partition) Replication(ctx context.Context) (replication.Status, error) {
	if err := p.unavailable(); err != nil {
		return replication.Status{}, err
	}
	reply := make(chan replication.Status, 1)
	p.send(&statusMsg{reply: reply})
	select {
	case s := <-reply:
		return s, nil
	case <-p.done:
		return replication.Status{}, p.stoppedErr()
	case <-ctx.Done():
		return replication.Status{}, protocol.Errorf(protocol.ErrTimeout, "partition %s: status not answered in time (%v)", p.name, ctx.Err())
	}
}

// Recovery returns what opening the log found and did.
func (p *Partition) Recovery() storage.Recovery { return p.recovery }

// Done returns a channel closed when the actor has stopped and its log is closed.
func (p *Partition) Done() <-chan struct{} { return p.done }

// Err returns the failure that stopped the partition (wrapping ErrFailed), or nil.
func (p *Partition) Err() error {
	if err := p.failure.Load(); err != nil {
		return *err
	}
	return nil
}

// markFailed records the first failure; it returns false if the partition had failed already.
// A failed partition leads no more (withdrawLeadership).
func (p *Partition) markFailed(cause error) bool {
	err := fmt.Errorf("%w: partition %s: %w", ErrFailed, p.name, cause)
	if !p.failure.CompareAndSwap(nil, &err) {
		return false
	}
	p.withdrawLeadership()
	return true
}

// withdrawLeadership publishes that a failed partition leads nothing: it serves nothing until
// its node reopens it, so its Leadership must not say IsLeader (a failed leader went on saying
// it, and its node announcing it, until the node restarted: clients and other nodes kept
// sending it produces it refused; the cluster simulator's finding 6). A leader's withdrawal is
// announced (Withdrawn), so nodes that took the announcement stop routing to it. Called on the
// actor's goroutine, as publishLeadership is, which publishes nothing once the partition failed.
func (p *Partition) withdrawLeadership() {
	cur := p.leadership.Load()
	next := Leadership{Leader: cur.Leader, Epoch: cur.Epoch, Replicas: cur.Replicas, Removed: cur.Removed,
		Stale: cur.Stale, Failed: true, Withdrawn: cur.IsLeader}
	if cur.IsLeader {
		next.Leader = ""
	}
	p.leadership.Store(&next)
}

// unavailable returns why the partition cannot take a request, or nil.
func (p *Partition) unavailable() error {
	if err := p.Err(); err != nil {
		return err
	}
	select {
	case <-p.done:
		return protocol.Errorf(protocol.ErrShuttingDown, "partition %s is stopped", p.name)
	default:
		return nil
	}
}

// Produce appends batch b (protocol/batch bytes from the wire) and waits for the answer that
// acks asks for: after the append for AcksNone, once the batch is durable for AcksLeader and
// AcksQuorum. It is Submit then Wait; see both.
func (p *Partition) Produce(ctx context.Context, b []byte, acks protocol.Acks) (Produced, error) {
	pending, err := p.Submit(b, acks)
	if err != nil {
		return Produced{}, err
	}
	return pending.Wait(ctx)
}

// Submit hands batch b to the actor and returns at once; Wait on the result for the answer.
// Batches submitted by one goroutine are appended in that order. Submit takes ownership of b:
// the log rewrites its header in place, so the caller must not reuse it. Past the in-flight
// bound it returns protocol.ErrBusy without sending anything.
func (p *Partition) Submit(b []byte, acks protocol.Acks) (*PendingProduce, error) {
	if err := p.unavailable(); err != nil {
		return nil, err
	}
	if acks > protocol.AcksNone {
		return nil, protocol.Errorf(protocol.ErrInvalidArgument, "unknown acks %d", uint8(acks))
	}
	size := int64(len(b))
	if !p.reserve(size) {
		p.counters.busyRejections.Add(1)
		return nil, protocol.Errorf(protocol.ErrBusy, "partition %s has %d bytes in flight (limit %d)",
			p.name, p.inFlightBytes.Load(), p.cfg.MaxInFlightBytes)
	}
	reply := make(chan produceReply, 1)
	p.send(&produceMsg{batch: b, acks: acks, reply: reply})
	return &PendingProduce{p: p, reply: reply}, nil
}

// PendingProduce is a submitted batch whose answer has not been read yet.
type PendingProduce struct {
	p     *Partition
	reply <-chan produceReply
}

// Wait blocks until the batch is answered, ctx is done (protocol.ErrTimeout; the batch may still
// be written, and a retry of an idempotent batch is deduplicated) or the partition stops.
// Errors from the log wrap the storage sentinels.
func (w *PendingProduce) Wait(ctx context.Context) (Produced, error) {
	p := w.p
	select {
	case r := <-w.reply:
		return r.produced, r.err
	case <-p.done:
		select {
		case r := <-w.reply:
			return r.produced, r.err
		default:
		}
		return Produced{}, p.stoppedErr()
	case <-ctx.Done():
		return Produced{}, protocol.Errorf(protocol.ErrTimeout, "partition %s: produce not answered in time (%v); the batch may still be written, retry it", p.name, ctx.Err())
	}
}

// reserve counts size bytes in flight if the bound allows it.
func (p *Partition) reserve(size int64) bool {
	for {
		cur := p.inFlightBytes.Load()
		if cur > 0 && cur+size > p.cfg.MaxInFlightBytes {
			return false
		}
		if p.inFlightBytes.CompareAndSwap(cur, cur+size) {
			return true
		}
	}
}

// InFlightBytes returns the bytes of produces accepted and not yet answered.
func (p *Partition) InFlightBytes() int64 { return p.inFlightBytes.Load() }

// ReadResult is what Read returns: whole batches and the offsets a consumer needs with them.
type ReadResult struct {
	storage.ReadResult
	LogStart      uint64
	HighWatermark uint64
}

// Read returns whole batches from offset from, up to maxBytes (at least one batch), never past
// the high watermark. It reads the log directly and does not wait for anything; an offset below
// the log start or past the log end is storage.ErrOutOfRange.
func (p *Partition) Read(from uint64, maxBytes int) (ReadResult, error) {
	if err := p.unavailable(); err != nil {
		return ReadResult{}, err
	}
	if !p.leadership.Load().IsLeader {
		return ReadResult{}, p.notLeader()
	}
	hw := p.HighWatermark()
	res, err := p.log.Read(from, maxBytes, hw, nil)
	if err != nil {
		return ReadResult{}, fmt.Errorf("partition %s: %w", p.name, err)
	}
	p.counters.fetches.Add(1)
	p.counters.fetchedBytes.Add(uint64(len(res.Data)))
	p.counters.fetchedRecords.Add(recordsFrom(res.Data, from))
	return ReadResult{ReadResult: res, LogStart: p.log.LogStart(), HighWatermark: hw}, nil
}

// recordsFrom counts the data records at or above from in whole batches (headers only).
func recordsFrom(data []byte, from uint64) uint64 {
	var n uint64
	for len(data) > 0 {
		h, err := batch.ReadHeader(data)
		if err != nil || int64(h.Length) > int64(len(data)) {
			return n
		}
		if !h.IsControl() && h.NextOffset() > from {
			n += h.NextOffset() - max(h.BaseOffset, from)
		}
		data = data[h.Length:]
	}
	return n
}

// HighWatermark returns the offset below which records are visible to consumers: the commit
// point (held durably by a majority of the replica set) as the actor last saw it.
func (p *Partition) HighWatermark() uint64 {
	hw, _ := p.watch.get()
	return hw
}

// Watch returns the high watermark and a channel closed when it next rises or the partition
// stops (then check Err and Done). Long-poll fetches wait on it.
func (p *Partition) Watch() (uint64, <-chan struct{}) { return p.watch.get() }

// LogStart returns the first offset the log holds.
func (p *Partition) LogStart() uint64 { return p.log.LogStart() }

// Resolve returns the offset of a position: the log start for earliest, the high watermark for
// latest, the first record at or above an id or a time (at most the high watermark), or the
// offset itself.
func (p *Partition) Resolve(pos protocol.Position) (uint64, error) {
	if err := p.unavailable(); err != nil {
		return 0, err
	}
	hw := p.HighWatermark()
	var offset uint64
	var err error
	switch pos.Kind {
	case protocol.PositionOffset:
		return pos.Offset, nil
	case protocol.PositionEarliest:
		return p.log.LogStart(), nil
	case protocol.PositionLatest:
		return hw, nil
	case protocol.PositionID:
		offset, err = p.log.OffsetForID(pos.ID)
	case protocol.PositionTime:
		offset, err = p.log.OffsetForTime(pos.TimeMs)
	default:
		return 0, protocol.Errorf(protocol.ErrInvalidArgument, "unknown position kind %d", pos.Kind)
	}
	if err != nil {
		return 0, fmt.Errorf("partition %s: %w", p.name, err)
	}
	return min(offset, hw), nil
}

// Trim removes records from the front of the log (XTRIM) through the actor and returns how many
// live records went. It blocks until the actor answers, ctx is done or the partition stops.
func (p *Partition) Trim(ctx context.Context, t storage.Trim) (uint64, error) {
	if err := p.unavailable(); err != nil {
		return 0, err
	}
	reply := make(chan trimReply, 1)
	p.send(&trimMsg{trim: t, reply: reply})
	select {
	case r := <-reply:
		return r.removed, r.err
	case <-p.done:
		return 0, p.stoppedErr()
	case <-ctx.Done():
		return 0, protocol.Errorf(protocol.ErrTimeout, "partition %s: trim not answered in time (%v)", p.name, ctx.Err())
	}
}

// EnforceRetention asks the actor to apply the retention policy at time nowMs. It does not wait.
func (p *Partition) EnforceRetention(nowMs int64) {
	if p.unavailable() == nil {
		p.send(&retentionMsg{nowMs: nowMs})
	}
}

func (p *Partition) stoppedErr() error {
	if err := p.Err(); err != nil {
		return err
	}
	return protocol.Errorf(protocol.ErrShuttingDown, "partition %s stopped", p.name)
}

// Stop stops the actor after the messages already in its mailbox (a poison pill), which makes
// everything appended durable and closes the log, and waits for it and the relay. It returns the
// log's close error. Stop is idempotent and also waits for a partition that failed.
func (p *Partition) Stop(ctx context.Context) error {
	p.RequestStop()
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("partition %s: stop: %w", p.name, ctx.Err())
	}
	select {
	case <-p.relayDone:
	case <-ctx.Done():
		return fmt.Errorf("partition %s: stop the relay: %w", p.name, ctx.Err())
	}
	return p.closeErr
}

// RequestStop tells the actor to stop after the messages already in its mailbox, once, and does
// not wait (Stop waits). Stopping many partitions, tell them all first, then wait for each.
func (p *Partition) RequestStop() {
	select {
	case <-p.done:
		return
	default:
	}
	if p.stopRequested.CompareAndSwap(false, true) {
		p.send(&actor.PoisonPill{})
	}
}

// Stats is a snapshot of one partition, for metrics and the status page.
type Stats struct {
	Topic         string
	Partition     int32
	Epoch         uint64
	LogStart      uint64
	LogEnd        uint64
	HighWatermark uint64
	// Records is the number of live records (Redis XLEN).
	Records uint64
	// Bytes is the size of the segment files.
	Bytes           int64
	InFlightBytes   int64
	ProducedBatches uint64
	ProducedRecords uint64
	ProducedBytes   uint64
	// Duplicates counts retried batches answered from the producer table.
	Duplicates uint64
	// RefusedProduces counts produces the actor answered with an error.
	RefusedProduces uint64
	Fetches         uint64
	FetchedBytes    uint64
	// FetchedRecords counts data records at or above the asked offset in fetched batches.
	FetchedRecords   uint64
	BusyRejections   uint64
	RetentionRemoved uint64
	// MovedBytes are the log bytes sent to learners (replica moves and RF restores).
	MovedBytes uint64
	Failed     bool
	Failure    string
}

// Stats returns a snapshot of the partition. It lists the partition directory for the size.
func (p *Partition) Stats() Stats {
	s := Stats{
		Topic:            p.cfg.Topic,
		Partition:        p.cfg.Partition,
		Epoch:            p.Epoch(),
		LogStart:         p.log.LogStart(),
		LogEnd:           p.log.LogEnd(),
		HighWatermark:    p.HighWatermark(),
		Records:          p.log.Len(),
		Bytes:            segmentBytes(p.cfg.Storage.FS, p.cfg.Storage.Dir),
		InFlightBytes:    p.inFlightBytes.Load(),
		ProducedBatches:  p.counters.producedBatches.Load(),
		ProducedRecords:  p.counters.producedRecords.Load(),
		ProducedBytes:    p.counters.producedBytes.Load(),
		Duplicates:       p.counters.duplicates.Load(),
		RefusedProduces:  p.counters.refusedProduces.Load(),
		Fetches:          p.counters.fetches.Load(),
		FetchedBytes:     p.counters.fetchedBytes.Load(),
		FetchedRecords:   p.counters.fetchedRecords.Load(),
		BusyRejections:   p.counters.busyRejections.Load(),
		RetentionRemoved: p.counters.retentionRemoved.Load(),
		MovedBytes:       p.counters.movedBytes.Load(),
	}
	if err := p.Err(); err != nil {
		s.Failed, s.Failure = true, err.Error()
	}
	return s
}

// segmentBytes sums the sizes of the segment files in dir (0 when they cannot be listed).
//
// TODO(actors): ask storage for a Log.Size(); listing the directory races with retention.
func segmentBytes(fsys vfs.FS, dir string) int64 {
	if fsys == nil {
		fsys = vfs.OS()
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, name := range names {
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		if size, err := f.Size(); err == nil {
			total += size
		}
		_ = f.Close()
	}
	return total
}
