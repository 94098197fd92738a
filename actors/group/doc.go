// Package group is the consumer-group core of one partition: a pure state machine with the
// semantics of Redis 7.0 stream consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
// XAUTOCLAIM, XINFO GROUPS/CONSUMERS and the group part of XINFO STREAM FULL), plus two Shoal
// extensions: XREADGROUP CLAIM (as in Redis 8.4) and a dead-letter bound on deliveries.
//
// One State holds every group of one partition's stream. It changes only through Apply, which
// every replica calls with the same entries in log order, so replicas hold identical states:
//
//  1. The partition actor (the shell) turns a client command into a Command and calls
//     State.Plan(cmd, stream, nowMs). Plan validates the command against the current state and
//     the stream, and returns the Result the client gets and, when the command changes group
//     state, the Entry that records the change. Plan never mutates.
//  2. The shell appends the Entry to the partition log as a control record (key
//     batch.ControlGroup, value Entry.Marshal()) and calls State.Apply(entry) at once, before
//     planning the next command: a plan assumes every earlier planned entry has been applied.
//  3. Followers decode the record with UnmarshalEntry and Apply it. After a truncation the shell
//     rebuilds the State from a snapshot (MarshalSnapshot/UnmarshalSnapshot) and replays.
//
// Entries are resolved effects, not commands (as Redis propagates XREADGROUP as XCLAIM ... TIME
// RETRYCOUNT FORCE JUSTID): "pending entry 5-0 now belongs to consumer c, delivered 3 times,
// last at t". Apply needs no stream and no clock, so replay cannot diverge, and the result the
// client gets is fully known at Plan time.
//
// Time is an input: nowMs is the leader's clock when planning; an Entry carries it, and every
// time a replica stores (seen time, active time, delivery time) comes from the entry. Idle times
// in results are computed from nowMs.
//
// Ordering: groups and consumers are reported in byte order of their names and pending entries
// in id order, as Redis's radix trees do; nothing depends on map iteration order.
//
// Ownership and concurrency: a State is not safe for concurrent use; one goroutine (the
// partition actor) drives it. Commands and entries passed in are not retained except for the
// strings and ids copied out of them; results and entries returned belong to the caller.
// Nothing here blocks.
//
// Dead letters (Shoal extension). A group with MaxDeliveries > 0 never hands out a pending entry
// whose delivery count already reached MaxDeliveries: a history read, a CLAIM read, XCLAIM or
// XAUTOCLAIM that would deliver it (and increment its count) instead removes it from the pending
// list in the same Entry and lists it in the result's DeadLetters, for the shell to copy to the
// topic's dead-letter stream. A dead-lettered entry takes one slot of COUNT. Deliveries that do
// not increment the count (JUSTID, or RETRYCOUNT given to XCLAIM) are never dead-lettered: they
// are administrative. So an entry reaches a consumer at most MaxDeliveries times through
// increments.
package group
