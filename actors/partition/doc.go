// Package partition is the partition actor: one protoactor-go actor per hosted partition, owning
// that partition's storage.Log, and the Partition handle through which the rest of the broker
// talks to it.
//
// # Messages and ownership
//
// Batches, not records, are actor messages. Every write to the log (Produce, Trim, retention)
// goes through the actor, so appends happen in mailbox order and the actor alone decides
// offsets, ids and the producer table. Reads (Read, ListOffset, Stats) go straight to the log,
// which is safe for concurrent use, and never wait for the actor.
//
// # Durability and acks
//
// The actor appends and returns to its mailbox at once; it never waits for an fsync. A relay
// goroutine waits on the log's durability (storage.Log.WaitDurable) and sends the actor a
// message each time the durable end advances, so that while one fsync runs, the batches that
// arrive are appended and share the next fsync (group commit). A produce with AcksLeader or
// AcksQuorum (the same thing on a single node) is answered when the durable end passes its batch;
// AcksNone is answered as soon as the batch is appended.
//
// NB(actors): the relay uses WaitDurable rather than storage.Config.OnDurable. OnDurable runs
// with the log's lock held, and under the synchronized dispatcher a Send runs the actor inline,
// so the actor would call back into a locked log; and OnDurable is not called when an fsync
// fails, while WaitDurable returns the failure, so pending produces are answered at once.
//
// # High watermark
//
// Consumers see only what is durable under the policy: the high watermark, which the actor
// publishes after each append and each durable advance (Watch gives a channel that closes on the
// next advance, for long-poll fetches).
//
// # Backpressure
//
// Each partition bounds the bytes of batches accepted but not yet answered. Produce reserves the
// batch's bytes before it sends the message and refuses at once with protocol.ErrBusy past the
// bound, so the (unbounded) mailbox never grows past it. A batch larger than the bound is
// accepted when nothing else is in flight, or it could never be written.
//
// # Idempotent producers
//
// A batch with a ProducerID carries the producer's BaseSequence. The actor remembers, per
// producer, the next expected sequence and the results of its last few batches; a retried batch
// that matches one of them is answered with the original offsets (once they are durable) and
// not appended again; any other sequence but the expected one is protocol.ErrInvalidArgument.
// The table is rebuilt at start by scanning the tail of the log.
//
// # Failure
//
// A panic in the actor marks the partition failed (Err, Stats, logged with its stack) and the
// supervisor strategy of this package (StopOnFailure) stops the actor: it is never restarted
// with empty state. Pending produces are answered with the failure and the log is closed.
package partition
