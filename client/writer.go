package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// partitionWriter gathers one partition's records into batches and sends them, with up to
// MaxInFlight batches in flight. Send (add) fills the open batch under mu; the writer's loop
// goroutine (run) seals batches that are ready, launches their requests, and handles their
// completions. Only the loop completes batches, so a batch's done channel is closed once.
type partitionWriter struct {
	p         *Producer
	topic     string
	partition int32

	// sealCount counts the batches sealed so far (the sticky partitioner reads it).
	sealCount atomic.Uint64
	// wake asks the loop to look for work (capacity 1: one pending wake is enough).
	wake chan struct{}
	// completions carries the answers of requests in flight back to the loop.
	completions chan completion

	mu sync.Mutex
	// open gathers records; nil when there is none.
	open *pendingBatch
	// queue holds the sealed batches not yet completed, in sequence order; some are in flight.
	// Invariant: len(queue) <= MaxInFlight, and inFlight <= len(queue).
	queue    []*pendingBatch
	inFlight int
	// producerID and nextSequence are the idempotence fields of the next batch to open. The
	// id is the Producer's until a batch of this partition fails for good (see resequence).
	producerID   int64
	nextSequence int32
	// recovering is set by a retriable failure: nothing new is sent until the requests in
	// flight have ended and the backoff has passed; then the oldest batch goes alone, and
	// pipelining resumes when it succeeds.
	recovering bool
	// window is how many batches may be in flight now, at most MaxInFlight: it starts at 1,
	// grows by one per window's worth of acknowledged batches and halves on each retriable
	// failure (as a TCP congestion window), so a partition pipelines only as deep as the
	// broker keeps up with, in order.
	//
	// NB(client): the broker takes any sequence from a producer it does not know, so the first
	// batch under a producer id must go alone: a second one overtaking it would be appended
	// and the first refused for good (and the order lost). Once it knows the producer, it
	// refuses an overtaking batch as out of order; the transport serves requests concurrently,
	// so that happens to pipelined batches (measured: most of them at 4 or more in flight), and
	// each costs a recovery. The window keeps those rare (measured on one node, 2M records of
	// 100 bytes over 4 partitions, MaxInFlight 16: about 100 recoveries, against thousands
	// with a fixed depth).
	window int
	// acked counts the acknowledgements since the window last grew.
	acked int
	// resequence is set when a batch failed for good: the broker would refuse every later
	// sequence (a gap), so once the requests in flight have ended, the partition takes a fresh
	// producer id and re-encodes its unsent batches from sequence 0 (resequenceLocked).
	resequence bool
	backoff    backoff
	// slotFreed is closed, and replaced, whenever a batch leaves the queue; add waits on it.
	slotFreed chan struct{}
	// stopped is set when the loop has ended (or never started): add refuses records.
	stopped bool
}

// pendingBatch is one batch and the futures of its records.
type pendingBatch struct {
	writer    *partitionWriter
	topic     string
	partition int32
	builder   *batch.Builder
	bytes     []byte // the sealed batch (aliases builder); nil while open
	// ready asks the loop to seal the open batch at the next chance (Linger passed, the batch
	// is full, or a flush was asked).
	ready bool
	timer *time.Timer // the Linger timer of an open batch
	// sending is set while a request carries the batch; probe when it is the lone batch of a
	// recovery; behind when it was sent while an earlier batch of the partition was
	// unacknowledged (so the broker may have seen it first, and refused it as out of order).
	sending, probe, behind bool
	attempts               int
	// uncertain is set when the last attempt ended without the broker saying it refused the
	// batch (a broken connection, a timeout, not leader...): it may be in the log.
	uncertain bool
	lastErr   error

	done  chan struct{} // closed by finish
	acked protocol.ProduceResult
	err   error
}

// completion is the outcome of one produce request.
type completion struct {
	b      *pendingBatch
	result protocol.ProduceResult
	err    error
}

var builderPool = sync.Pool{New: func() any { return batch.NewBuilder(builderSizeHint) }}

func newPartitionWriter(p *Producer, topic string, partition int32) *partitionWriter {
	return &partitionWriter{
		p:           p,
		topic:       topic,
		partition:   partition,
		wake:        make(chan struct{}, 1),
		completions: make(chan completion, p.cfg.MaxInFlight),
		backoff:     backoff{min: p.cfg.RetryBackoff, max: p.cfg.RetryBackoffMax},
		producerID:  p.producerID,
		window:      1,
		slotFreed:   make(chan struct{}),
	}
}

func (w *partitionWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// add encodes rec into the open batch and returns its future. When the open batch cannot take
// rec and MaxInFlight batches are sealed, it waits for one to complete, or for ctx.
func (w *partitionWriter) add(ctx context.Context, rec *Record, timestamp int64) *Future {
	size := rec.size()
	cfg := &w.p.cfg
	w.mu.Lock()
	for {
		if w.stopped {
			w.mu.Unlock()
			return failedFuture(ErrClosed)
		}
		if w.open == nil || w.open.builder.Size()+size <= cfg.BatchBytes {
			break
		}
		w.open.ready = true
		if len(w.queue) < cfg.MaxInFlight {
			w.sealLocked()
			w.signal()
			continue
		}
		slotFreed := w.slotFreed
		w.mu.Unlock()
		w.signal()
		select {
		case <-slotFreed:
		case <-ctx.Done():
			return failedFuture(ctx.Err())
		case <-w.p.ctx.Done():
			return failedFuture(ErrClosed)
		}
		w.mu.Lock()
	}
	if w.open == nil {
		w.openLocked()
	}
	b := w.open
	index := uint32(b.builder.Len())
	if err := b.builder.Add(batch.ID{}, timestamp, rec.Key, rec.Value, rec.Headers); err != nil {
		w.mu.Unlock()
		return failedFuture(fmt.Errorf("produce %s/%d: %w", w.topic, w.partition, err))
	}
	full := b.builder.Size() >= cfg.BatchBytes || index == math.MaxUint32-1
	if full {
		b.ready = true
	}
	w.mu.Unlock()
	if full {
		w.signal()
	}
	return &Future{b: b, index: index}
}

// openLocked starts a new open batch with the next sequence number.
func (w *partitionWriter) openLocked() {
	builder := builderPool.Get().(*batch.Builder)
	builder.Reset(w.batchOptions())
	b := &pendingBatch{writer: w, topic: w.topic, partition: w.partition, builder: builder, done: make(chan struct{})}
	if linger := w.p.cfg.Linger; linger < 0 {
		b.ready = true
		w.signal() // the loop takes mu after the caller has added its record
	} else {
		b.timer = time.AfterFunc(linger, func() { w.flushBatch(b) })
	}
	w.open = b
}

// batchOptions are the options of the next batch to open.
func (w *partitionWriter) batchOptions() batch.Options {
	opts := batch.Options{AutoID: true, ProducerID: w.producerID}
	if w.producerID != batch.NoProducer {
		opts.BaseSequence = w.nextSequence
	}
	return opts
}

// sealLocked finishes the open batch and queues it for sending.
func (w *partitionWriter) sealLocked() {
	b := w.open
	w.open = nil
	if b.timer != nil {
		b.timer.Stop()
	}
	records := b.builder.Len()
	bytes, err := b.builder.Finish()
	if err != nil {
		// Programmer error: an open batch always holds a record (add opens and adds under mu).
		panic(fmt.Sprintf("client: sealing a batch of %d records: %v", records, err))
	}
	b.bytes = bytes
	w.nextSequence = nextSequence(w.nextSequence, records)
	w.queue = append(w.queue, b)
	w.sealCount.Add(1)
}

// nextSequence is the sequence after a batch of records that starts at seq. Sequences wrap
// from math.MaxInt32 to 0, as the broker expects.
func nextSequence(seq int32, records int) int32 {
	return int32((int64(seq) + int64(records)) % (math.MaxInt32 + 1))
}

// flushBatch asks the loop to send b at the next chance, without waiting for Linger.
func (w *partitionWriter) flushBatch(b *pendingBatch) {
	w.mu.Lock()
	if w.open == b {
		b.ready = true
	}
	w.mu.Unlock()
	w.signal()
}

// flush marks the open batch ready and appends the done channels of every batch not yet
// completed to pending.
func (w *partitionWriter) flush(pending []<-chan struct{}) []<-chan struct{} {
	w.mu.Lock()
	for _, b := range w.queue {
		pending = append(pending, b.done)
	}
	if w.open != nil {
		w.open.ready = true
		pending = append(pending, w.open.done)
	}
	w.mu.Unlock()
	w.signal()
	return pending
}

// run is the writer's loop: launch what may go, then wait for a wake, a completion, the end of
// a backoff or the producer's end.
func (w *partitionWriter) run() {
	defer w.p.wg.Done()
	var backingOff <-chan time.Time // non-nil while a retry backoff runs
	for {
		w.mu.Lock()
		launch := w.launchLocked(backingOff != nil)
		w.mu.Unlock()
		for _, b := range launch {
			go w.send(b)
		}
		select {
		case <-w.wake:
		case c := <-w.completions:
			if w.complete(c) && backingOff == nil {
				w.mu.Lock()
				d := w.backoff.next()
				w.mu.Unlock()
				backingOff = time.After(d)
			}
		case <-backingOff:
			backingOff = nil
		case <-w.p.ctx.Done():
			w.stop()
			return
		}
	}
}

// launchLocked marks the batches to send now as sending and returns them, in sequence order.
func (w *partitionWriter) launchLocked(backingOff bool) []*pendingBatch {
	if w.recovering {
		if w.inFlight > 0 || backingOff {
			return nil
		}
		if w.resequence {
			w.resequenceLocked()
		}
		if len(w.queue) > 0 {
			b := w.queue[0]
			b.probe = true
			w.startLocked(b, 0)
			return []*pendingBatch{b}
		}
		w.recovering = false // nothing left to recover
		w.backoff.attempt = 0
	}
	maxInFlight := w.window
	if w.producerID == batch.NoProducer {
		maxInFlight = w.p.cfg.MaxInFlight // no sequences: nothing for an overtaking batch to break
	}
	var launch []*pendingBatch
	for i, b := range w.queue {
		if w.inFlight >= maxInFlight {
			return launch
		}
		if !b.sending {
			w.startLocked(b, i)
			launch = append(launch, b)
		}
	}
	if w.open != nil && w.open.ready && len(w.queue) < w.p.cfg.MaxInFlight && w.inFlight < maxInFlight {
		w.sealLocked()
		i := len(w.queue) - 1
		w.startLocked(w.queue[i], i)
		launch = append(launch, w.queue[i])
	}
	return launch
}

// startLocked marks b, at index i of the queue, as sent.
func (w *partitionWriter) startLocked(b *pendingBatch, i int) {
	b.sending = true
	b.behind = i > 0
	b.attempts++
	w.inFlight++
}

// send carries one batch to the partition's leader and reports the outcome to the loop.
func (w *partitionWriter) send(b *pendingBatch) {
	cfg := &w.p.cfg
	ctx, cancel := context.WithTimeout(w.p.ctx, cfg.RequestTimeout)
	defer cancel()
	req := protocol.ProduceRequest{
		Topic:     w.topic,
		Acks:      cfg.Acks,
		TimeoutMs: int32(min(cfg.RequestTimeout.Milliseconds(), math.MaxInt32)),
		Batches:   []protocol.ProducePartition{{Partition: w.partition, Batch: b.bytes}},
	}
	var resp protocol.ProduceResponse
	err := w.p.client.callLeader(ctx, w.topic, w.partition, protocol.TypeProduce, &req, &resp)
	var result protocol.ProduceResult
	if err == nil {
		result, err = resultFor(resp, w.partition)
		if classify(err) != kindFatal {
			w.p.client.meta.invalidate(w.topic) // not leader, say: ask again where it is
		}
	}
	switch {
	case err == nil:
	case w.p.ctx.Err() != nil:
		err = ErrClosed
	case errors.Is(err, context.DeadlineExceeded):
		// Our own RequestTimeout, not the producer's end: the broker may be slow or gone.
		err = fmt.Errorf("%w: no answer within %v", protocol.ErrTimeout, cfg.RequestTimeout)
	}
	w.completions <- completion{b: b, result: result, err: err}
}

// resultFor finds partition's result in a produce response.
func resultFor(resp protocol.ProduceResponse, partition int32) (protocol.ProduceResult, error) {
	for _, r := range resp.Results {
		if r.Partition == partition {
			return r, r.Error.Err()
		}
	}
	return protocol.ProduceResult{}, fmt.Errorf("%w: produce response without partition %d", protocol.ErrMalformed, partition)
}

// complete handles one request's outcome; it reports whether the partition must back off
// before sending again.
func (w *partitionWriter) complete(c completion) (backOff bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := c.b
	b.sending = false
	w.inFlight--
	probe := b.probe
	b.probe = false
	if c.err == nil {
		w.grow()
		if probe {
			w.recovering = false // the lone batch of a recovery went through: pipeline again
			w.backoff.attempt = 0
		}
		w.removeLocked(b)
		b.finish(c.result, nil)
		return false
	}
	// NB(client): the broker serves each request on its own goroutine, so two batches of a
	// partition in flight together may reach it in either order, and it refuses a sequence
	// ahead of the expected one with ErrInvalidArgument. Such a refusal of a batch sent behind
	// an unacknowledged one is a casualty of pipelining, not a fault of the batch: it is sent
	// again, after the earlier ones, and does not use up a retry. Sent alone (a probe), the
	// same refusal is genuine.
	casualty := b.behind && errors.Is(c.err, protocol.ErrInvalidArgument)
	if casualty {
		b.attempts--
	}
	b.lastErr = c.err
	b.uncertain = !casualty && !errors.Is(c.err, protocol.ErrBusy)
	if casualty || (classify(c.err) != kindFatal && b.attempts <= w.p.cfg.Retries) {
		w.window = max(w.window/2, 1)
		w.recovering = true
		w.p.client.logger.Debug("retrying produce", "topic", w.topic, "partition", w.partition,
			"attempt", b.attempts, "err", c.err)
		return !casualty
	}
	w.removeLocked(b)
	b.finish(protocol.ProduceResult{}, fmt.Errorf("produce %s/%d: %w", w.topic, w.partition, c.err))
	if w.producerID != batch.NoProducer {
		// Even with nothing queued: the next batch to open must not carry the next sequence.
		w.resequence = true
		w.recovering = true
	} else if probe {
		w.recovering = false
	}
	return false
}

// grow widens the window by one batch per window's worth of acknowledgements (additive
// increase, as TCP's congestion avoidance).
func (w *partitionWriter) grow() {
	w.acked++
	if w.acked >= w.window && w.window < w.p.cfg.MaxInFlight {
		w.window++
		w.acked = 0
	}
}

// resequenceLocked moves the partition to a fresh producer id after a batch failed for good,
// once nothing is in flight: every batch not acknowledged yet is re-encoded with the new id and
// consecutive sequences from 0 (the broker takes any start from a producer it does not know),
// keeping its records, their order and their futures. A batch whose last attempt may have
// reached the log (uncertain) cannot be re-encoded without risking a duplicate: it fails, its
// error saying that its outcome is unknown.
func (w *partitionWriter) resequenceLocked() {
	w.resequence = false
	w.producerID = newProducerID()
	w.nextSequence = 0
	w.window = 1 // a producer the broker does not know: its first batch goes alone
	queue := slices.Clone(w.queue)
	for _, b := range queue {
		if b.uncertain {
			w.removeLocked(b)
			b.finish(protocol.ProduceResult{}, fmt.Errorf("produce %s/%d: an earlier batch of the partition failed for good, "+
				"and this batch's outcome is unknown (it may have been appended): %w", w.topic, w.partition, b.lastErr))
			continue
		}
		b.reencode(w.batchOptions(), true)
		w.nextSequence = nextSequence(w.nextSequence, b.builder.Len())
	}
	if w.open != nil {
		w.open.reencode(w.batchOptions(), false)
	}
	w.p.client.logger.Debug("partition continues under a new producer id", "topic", w.topic,
		"partition", w.partition, "producer_id", w.producerID, "batches", len(w.queue))
}

// reencode rebuilds the batch's records under opts in a new builder; sealed says whether to
// finish it (a queued batch) or leave it open for more records (the open batch).
func (b *pendingBatch) reencode(opts batch.Options, sealed bool) {
	old, err := b.builder.Finish()
	if err != nil {
		panic(fmt.Sprintf("client: re-encoding a batch: %v", err)) // a batch always holds a record
	}
	h, err := batch.ReadHeader(old)
	if err != nil {
		panic(fmt.Sprintf("client: re-encoding a batch the builder made: %v", err))
	}
	nb := builderPool.Get().(*batch.Builder)
	nb.Reset(opts)
	var headers []batch.HeaderPair
	for it := batch.Iterate(old, h); it.Next(); {
		r := it.Record()
		headers = headers[:0]
		for hi := r.Headers(); hi.Next(); {
			headers = append(headers, batch.HeaderPair{Field: hi.Field(), Value: hi.Value()})
		}
		if err := nb.Add(batch.ID{}, r.Timestamp, r.Key, r.Value, headers); err != nil {
			panic(fmt.Sprintf("client: re-encoding a record: %v", err))
		}
	}
	builderPool.Put(b.builder)
	b.builder = nb
	b.bytes = nil
	b.uncertain = false
	if sealed {
		if b.bytes, err = nb.Finish(); err != nil {
			panic(fmt.Sprintf("client: re-encoding a batch: %v", err))
		}
	}
}

// removeLocked takes b out of the queue and wakes a Send waiting for room.
func (w *partitionWriter) removeLocked(b *pendingBatch) {
	if i := slices.Index(w.queue, b); i >= 0 {
		w.queue = slices.Delete(w.queue, i, i+1)
	}
	close(w.slotFreed)
	w.slotFreed = make(chan struct{})
}

// stop ends the writer when the producer closes: the requests in flight end (their context is
// the producer's), and every batch without an answer fails with ErrClosed.
func (w *partitionWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	inFlight := w.inFlight
	w.mu.Unlock()
	for ; inFlight > 0; inFlight-- {
		c := <-w.completions
		err := c.err
		if err != nil {
			err = fmt.Errorf("produce %s/%d: %w", w.topic, w.partition, err)
		}
		w.mu.Lock()
		c.b.sending = false
		w.removeLocked(c.b)
		w.mu.Unlock()
		c.b.finish(c.result, err)
	}
	w.mu.Lock()
	rest := w.queue
	w.queue = nil
	if w.open != nil {
		if w.open.timer != nil {
			w.open.timer.Stop()
		}
		rest = append(rest, w.open)
		w.open = nil
	}
	w.inFlight = 0
	w.mu.Unlock()
	for _, b := range rest {
		b.finish(protocol.ProduceResult{}, ErrClosed)
	}
}

// finish records b's outcome, completes its futures and recycles its builder. Only the
// writer's loop calls it, once per batch.
func (b *pendingBatch) finish(result protocol.ProduceResult, err error) {
	b.acked, b.err = result, err
	b.bytes = nil
	builderPool.Put(b.builder)
	b.builder = nil
	close(b.done)
}
